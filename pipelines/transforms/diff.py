"""The nightly job's diff: today's rows against the previous run's published catalog."""
import apache_beam as beam

from pipelines.rules import catalog, changes


def _keyed(record):
    return record['id'], record


class _Diff(beam.DoFn):
    """One id's current row, previous record and quarantine records -> a carried record or a row to score."""

    def __init__(self, export_id, run_id):
        self._export_id, self._run_id = export_id, run_id

    def process(self, keyed):
        _, groups = keyed
        current, previous = list(groups['current']), list(groups['previous'])
        previous = previous[0] if previous else None
        if current:
            change = changes.change(current[0], previous, self._export_id)
            if change == changes.UNCHANGED:
                yield changes.with_status(previous, changes.ACTIVE, self._run_id)
            else:
                yield beam.pvalue.TaggedOutput('to_score', current[0])
        elif previous is None:
            return
        elif list(groups['quarantined']):
            change = changes.QUARANTINED if previous['status'] != changes.QUARANTINED else changes.UNCHANGED
            yield changes.with_status(previous, changes.QUARANTINED, self._run_id)
        else:
            change = changes.REMOVED if previous['status'] != changes.REMOVED else changes.UNCHANGED
            yield changes.with_status(previous, changes.REMOVED, self._run_id)
        yield beam.pvalue.TaggedOutput('changes', change if current else f'known_{change}')


@beam.typehints.with_input_types(catalog.Row)
class DiffWithPrevious(beam.PTransform):
    """Today's rows (with `content_hash`), the previous catalog's records and today's quarantine records ->
    `carried` (previous records kept, with their status), `to_score` (rows new, changed, or to rescore
    under a new model) and `changes` (one name per id: new, changed, rescored, unchanged, or
    known_removed / known_quarantined / known_unchanged for ids without a current row)."""

    def __init__(self, previous, quarantine, export_id, run_id):
        super().__init__()
        self._previous, self._quarantine = previous, quarantine
        self._export_id, self._run_id = export_id, run_id

    def expand(self, rows):
        quarantined = (self._quarantine
                       | 'quarantined known ids' >> beam.Filter(lambda r: catalog.is_valid_id(r.id))
                       | 'key quarantined' >> beam.Map(lambda r: (r.id, r)))
        return ({'current': rows | 'key current' >> beam.Map(_keyed),
                 'previous': self._previous | 'key previous' >> beam.Map(_keyed),
                 'quarantined': quarantined}
                | 'join with previous' >> beam.CoGroupByKey()
                | 'diff' >> beam.ParDo(_Diff(self._export_id, self._run_id)).with_outputs(
                    'to_score', 'changes', main='carried'))
