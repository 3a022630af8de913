"""The nightly diff: each id's current row against its previous record, reading an image only when needed."""
import io

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipelines.rules import catalog, changes, images
from pipelines.transforms.diff import DiffWithPrevious
from pipelines.transforms.images import IMAGES_READ
from pipelines.transforms.count import NAMESPACE
from apache_beam.metrics.metric import MetricsFilter
from tests.rows import catalog_row

MTIME = 1_700_000_000.0


def _jpeg(colour):
    buffer = io.BytesIO()
    Image.new('RGB', (60, 80), colour).save(buffer, format='JPEG')
    return buffer.getvalue()


def _row(tmp_path, row_id, data, article='Tshirts', mtime=MTIME):
    path = tmp_path / f'{row_id}.jpg'
    path.write_bytes(data)
    return catalog_row(id=row_id, masterCategory='Apparel', subCategory='Topwear', articleType=article,
                       productDisplayName=f'Item {row_id}', image_path=str(path), image_size=len(data),
                       image_mtime=mtime)


def _previous(row, data, status=changes.ACTIVE, model_version='1', fingerprint=None, **image_file):
    hashed = row._replace(content_hash=images.content_hash(data))
    return changes.CatalogRecord(
        id=row.id, fingerprint=fingerprint or changes.fingerprint_of(hashed), status=status,
        model_version=model_version, updated_in_run='r0', content_hash=hashed.content_hash,
        **(image_file or changes.image_file(row)))


def _run(rows, previous, previous_quarantine, quarantine, check, rehash=False):
    p = TestPipeline()
    diff = ({'rows': p | 'today' >> beam.Create(rows), 'previous': p | 'previous' >> beam.Create(previous),
             'previous_quarantine': p | 'previous quarantine' >> beam.Create(previous_quarantine),
             'quarantine': p | 'quarantine' >> beam.Create(quarantine)}
            | DiffWithPrevious(export_id='1', run_id='r1', rehash=rehash))
    check(diff)
    result = p.run()
    result.wait_until_finish()
    read = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(IMAGES_READ))['counters']
    return sum(c.committed for c in read)


def test_diff_sorts_every_id_and_reads_only_the_images_it_needs(tmp_path):
    red, blue, truncated = _jpeg('red'), _jpeg('blue'), _jpeg('green')[:200]
    same, edited, rescored, new = (_row(tmp_path, i, red) for i in '1234')
    removed, quarantined, gone_before = (_row(tmp_path, i, red) for i in '567')
    touched = _row(tmp_path, '8', red, mtime=MTIME + 60)  # same bytes, new time: read, carried, metadata updated
    replaced = _row(tmp_path, '9', blue)  # new bytes of another size: read and scored
    broken = _row(tmp_path, '10', truncated)  # was fine, now does not decode
    still_broken = _row(tmp_path, '11', truncated)  # rejected last night, unchanged since: not read
    upgraded = _row(tmp_path, '12', red)  # a record from before the metadata was stored: read once, carried
    previous = [_previous(same, red), _previous(edited, red, fingerprint='old'),
                _previous(rescored, red, model_version='0'), _previous(removed, red), _previous(quarantined, red),
                _previous(gone_before, red, status=changes.REMOVED), _previous(touched, red, image_mtime=MTIME,
                                                                                 image_size=len(red)),
                _previous(replaced, red, image_size=len(red), image_mtime=MTIME - 60),
                _previous(broken, red, image_size=len(red), image_mtime=MTIME - 60),
                _previous(upgraded, red, image_size=None, image_mtime=None)]
    previous_quarantine = [catalog.quarantine_row(still_broken, catalog.UNDECODABLE_IMAGE, 'bad')]

    def check(diff):
        assert_that(diff['to_score'] | 'to score id' >> beam.Map(lambda pair: (pair[0].id, pair[1])),
                    equal_to([('2', red), ('3', red), ('4', red), ('9', blue)]),
                    label='changed, rescored and new rows are scored, with the bytes read once')
        assert_that(diff['carried'] | 'carried' >> beam.Map(
            lambda r: (r.id, r.status, r.updated_in_run, r.image_mtime)),
            equal_to([('1', changes.ACTIVE, 'r0', MTIME), ('5', changes.REMOVED, 'r1', MTIME),
                      ('6', changes.QUARANTINED, 'r1', MTIME), ('7', changes.REMOVED, 'r0', MTIME),
                      ('8', changes.ACTIVE, 'r0', MTIME + 60), ('10', changes.QUARANTINED, 'r1', MTIME - 60),
                      ('12', changes.ACTIVE, 'r0', MTIME)]),
            label='the rest keep their record, with a new status where it changed and the file read')
        assert_that(diff['quarantine'] | 'quarantined' >> beam.Map(lambda r: (r.id, r.reason, r.image_size)),
                    equal_to([('10', catalog.UNDECODABLE_IMAGE, len(truncated)),
                              ('11', catalog.UNDECODABLE_IMAGE, len(truncated))]), label='bad images')
        assert_that(diff['changes'], equal_to([
            changes.UNCHANGED, changes.CHANGED, changes.RESCORED, changes.NEW, 'known_removed', 'known_quarantined',
            'known_unchanged', changes.UNCHANGED, changes.CHANGED, 'known_quarantined', changes.UNCHANGED]),
            label='one change per id')

    rows = [same, edited, rescored, new, touched, replaced, broken, still_broken, upgraded]
    quarantine = [catalog.quarantine_record('6', catalog.MISSING_IMAGE, '', '6,...'),
                  catalog.quarantine_record(None, catalog.INVALID_ENCODING, '', '?')]
    read = _run(rows, previous, previous_quarantine, quarantine, check)
    assert read == 7  # every row but '1' (unchanged file, nothing to score) and '11' (rejected, unchanged)


def test_rehash_reads_every_image_and_sees_a_rewrite_that_kept_size_and_time(tmp_path):
    red = _jpeg('red')
    twin = bytearray(red)
    twin[-3] ^= 1  # same size; the file's time is set, not taken from the write
    row = _row(tmp_path, '1', bytes(twin))
    previous = [_previous(row, red)]

    def unnoticed(diff):
        assert_that(diff['changes'], equal_to([changes.UNCHANGED]))

    def noticed(diff):
        assert_that(diff['changes'], equal_to([changes.CHANGED]))

    assert _run([row], previous, [], [], unnoticed) == 0
    assert _run([row], previous, [], [], noticed, rehash=True) == 1
