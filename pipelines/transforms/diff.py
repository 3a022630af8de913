"""The nightly job's diff: today's rows against the previous run's published catalog, reading an image only
when its file is new or changed, or when the item must be scored."""
import apache_beam as beam

from pipelines.rules import catalog, changes, images
from pipelines.transforms.images import images_read_counter


def _keyed(record):
    return record.id, record


def _first(values):
    values = list(values)
    return values[0] if values else None


def _gone(previous, quarantined, run_id):
    """An id without a usable row today: its previous record (if any) carried as quarantined or removed."""
    if previous is None:
        return
    status = changes.QUARANTINED if quarantined else changes.REMOVED
    change = status if previous.status != status else changes.UNCHANGED
    yield changes.with_status(previous, status, run_id)
    yield beam.pvalue.TaggedOutput('changes', f'known_{change}')


class _Diff(beam.DoFn):
    """One id's current row, previous record, previous image quarantine and today's quarantine -> a carried
    record, a quarantine record, or (row, previous record) to read.

    Without `rehash`, a row whose image file has the size and modification time its previous record was made
    from keeps that record's content hash, and is carried without a read when nothing else changed; one whose
    file the previous run rejected, unchanged since, is quarantined again without a read."""

    def __init__(self, export_id, run_id, rehash):
        self._export_id, self._run_id, self._rehash = export_id, run_id, rehash

    def process(self, keyed):
        _, groups = keyed
        row, previous = _first(groups['current']), _first(groups['previous'])
        if row is None:
            yield from _gone(previous, bool(list(groups['quarantined'])), self._run_id)
            return
        if not self._rehash:
            if changes.same_image_file(row, previous) and previous.content_hash:
                known = row._replace(content_hash=previous.content_hash)
                if changes.change(known, previous, self._export_id) == changes.UNCHANGED:
                    yield changes.with_status(previous, changes.ACTIVE, self._run_id)
                    yield beam.pvalue.TaggedOutput('changes', changes.UNCHANGED)
                    return
            rejected = _first(groups['rejected'])
            if rejected is not None and changes.same_image_file(row, rejected):
                yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_row(
                    row, catalog.UNDECODABLE_IMAGE, rejected.detail))
                yield from _gone(previous, True, self._run_id)
                return
        yield beam.pvalue.TaggedOutput('to_read', (row, previous))


class _ReadAndDiff(beam.DoFn):
    """(row, previous record) -> the image read, checked and hashed once: a quarantine record, a carried
    record (with the file's metadata now stored), or (row, JPEG bytes) to score."""

    def __init__(self, export_id, run_id):
        self._export_id, self._run_id = export_id, run_id
        self._read = None

    def setup(self):
        self._read = images_read_counter()

    def process(self, pair):
        row, previous = pair
        self._read.inc()
        hashed, quarantined = images.read_hashed(row)
        if quarantined:
            yield beam.pvalue.TaggedOutput('quarantine', quarantined)
            yield from _gone(previous, True, self._run_id)
            return
        row, _ = hashed
        change = changes.change(row, previous, self._export_id)
        if change == changes.UNCHANGED:
            yield changes.with_status(previous, changes.ACTIVE, self._run_id)._replace(**changes.image_file(row))
        else:
            yield beam.pvalue.TaggedOutput('to_score', hashed)
        yield beam.pvalue.TaggedOutput('changes', change)


def _rejected_image(record):
    """A previous run's quarantine record of an image that did not decode, with its file's metadata."""
    return record.reason == catalog.UNDECODABLE_IMAGE and record.image_mtime is not None


class DiffWithPrevious(beam.PTransform):
    """{'rows': today's rows (with their image file's metadata, not yet read), 'previous': the previous catalog's
    records, 'previous_quarantine': the previous run's quarantine records, 'quarantine': today's reader quarantine
    records} -> `carried` (records kept, with their
    status), `to_score` ((row with `content_hash`, JPEG bytes) of items new, changed, or to rescore under a new
    model), `quarantine` (images that do not decode) and `changes` (one name per id: new, changed, rescored,
    unchanged, or known_removed / known_quarantined / known_unchanged for ids without a usable row).

    An image is read once, only when its file is new or changed since the previous record (or rejection), or
    when its item must be scored; with `rehash`, every image is read."""

    def __init__(self, export_id, run_id, rehash=False):
        super().__init__()
        self._export_id, self._run_id, self._rehash = export_id, run_id, rehash

    def expand(self, inputs):
        quarantined = (inputs['quarantine']
                       | 'quarantined known ids' >> beam.Filter(lambda r: catalog.is_valid_id(r.id))
                       | 'key quarantined' >> beam.Map(lambda r: (r.id, r)))
        rejected = (inputs['previous_quarantine']
                    | 'rejected images' >> beam.Filter(_rejected_image)
                    | 'key rejected' >> beam.Map(lambda r: (r.id, r)))
        diff = ({'current': inputs['rows'] | 'key current' >> beam.Map(_keyed),
                 'previous': inputs['previous'] | 'key previous' >> beam.Map(_keyed),
                 'rejected': rejected, 'quarantined': quarantined}
                | 'join with previous' >> beam.CoGroupByKey()
                | 'diff' >> beam.ParDo(_Diff(self._export_id, self._run_id, self._rehash)).with_outputs(
                    'to_read', 'quarantine', 'changes', main='carried'))
        read = diff.to_read | 'read, check and hash changed images' >> beam.ParDo(
            _ReadAndDiff(self._export_id, self._run_id)).with_outputs('to_score', 'quarantine', 'changes',
                                                                        main='carried')
        return {'carried': (diff.carried, read.carried) | 'all carried' >> beam.Flatten(),
                'to_score': read.to_score,
                'quarantine': (diff.quarantine, read.quarantine) | 'all image quarantine' >> beam.Flatten(),
                'changes': (diff.changes, read.changes) | 'all changes' >> beam.Flatten()}
