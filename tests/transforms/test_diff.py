"""The nightly diff: each id's current row against its previous record."""
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.rules import catalog, changes
from pipelines.transforms.diff import DiffWithPrevious


def _row(row_id, article='Tshirts', content_hash='h'):
    return {'id': row_id, 'masterCategory': 'Apparel', 'subCategory': 'Topwear', 'articleType': article,
            'productDisplayName': f'Item {row_id}', 'content_hash': content_hash}


def _previous(row, status=changes.ACTIVE, model_version='1', fingerprint=None):
    return {'id': row['id'], 'fingerprint': fingerprint or changes.fingerprint(row), 'status': status,
            'model_version': model_version, 'updated_in_run': 'r0'}


def test_diff_sorts_every_id_into_carried_or_to_score_and_names_what_happened():
    same, edited, rescored, new = _row('1'), _row('2'), _row('3'), _row('4')
    removed, quarantined, gone_before = _row('5'), _row('6'), _row('7')
    previous = [_previous(same), _previous(edited, fingerprint='old'), _previous(rescored, model_version='0'),
                _previous(removed), _previous(quarantined), _previous(gone_before, status=changes.REMOVED)]
    with TestPipeline() as p:
        diff = (p | 'today' >> beam.Create([same, edited, rescored, new])
                | DiffWithPrevious(p | 'previous' >> beam.Create(previous),
                                   p | 'quarantine' >> beam.Create([
                                       catalog.quarantine_record('6', catalog.MISSING_IMAGE, '', '6,...'),
                                       catalog.quarantine_record(None, catalog.INVALID_ENCODING, '', '?')]),
                                   export_id='1', run_id='r1'))
        assert_that(diff.to_score | 'to score id' >> beam.Map(lambda r: r['id']), equal_to(['2', '3', '4']),
                    label='changed, rescored and new rows are scored')
        assert_that(diff.carried | 'carried' >> beam.Map(lambda r: (r['id'], r['status'], r['updated_in_run'])),
                    equal_to([('1', changes.ACTIVE, 'r0'), ('5', changes.REMOVED, 'r1'),
                              ('6', changes.QUARANTINED, 'r1'), ('7', changes.REMOVED, 'r0')]),
                    label='the rest keep their record, with a new status where it changed')
        assert_that(diff.changes, equal_to([changes.UNCHANGED, changes.CHANGED, changes.RESCORED, changes.NEW,
                                            'known_removed', 'known_quarantined', 'known_unchanged']),
                    label='one change per id')
