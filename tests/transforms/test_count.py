"""Counting transforms: counters, quarantine reasons, duplicate-image groups."""
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.rules import catalog
from pipelines.transforms.count import CountersFn, CountReasons, DuplicateImages


def _summary(row_id, content_hash, label='Tshirts', class_name='Tshirts'):
    return {'id': row_id, 'content_hash': content_hash, 'label': label, 'class_name': class_name}


def test_duplicate_images_group_byte_identical_images_with_their_labels():
    summaries = [_summary('1', 'a'), _summary('2', 'a', 'Topwear', 'Topwear'), _summary('3', 'b'),
                 _summary('4', 'c'), _summary('5', 'c'), _summary('6', 'c')]
    with TestPipeline() as p:
        groups = p | beam.Create(summaries) | DuplicateImages()
        assert_that(groups, equal_to([
            {'content_hash': 'a', 'ids': ['1', '2'], 'labels': ['Topwear', 'Tshirts'],
             'classes': ['Topwear', 'Tshirts']},
            {'content_hash': 'c', 'ids': ['4', '5', '6'], 'labels': ['Tshirts'], 'classes': ['Tshirts']}]))


def test_counters_add_up_the_keys_each_element_gives_across_bundles():
    def keys(n):
        return [('all', ''), ('parity', n % 2)]

    with TestPipeline() as p:
        counts = p | beam.Create(list(range(10))) | beam.CombineGlobally(CountersFn(keys))
        assert_that(counts, equal_to([{'all': {'': 10}, 'parity': {0: 5, 1: 5}}]))


def test_count_reasons_counts_quarantine_records_per_reason():
    records = [catalog.quarantine_record(i, reason, '', '') for i, reason in
               (('1', 'missing_image'), ('2', 'duplicate_id'), ('2', 'duplicate_id'))]
    with TestPipeline() as p:
        assert_that(p | beam.Create(records) | CountReasons(),
                    equal_to([('missing_image', 1), ('duplicate_id', 2)]))
