"""Counting transforms: counters, quarantine reasons, duplicate-image groups, the scoring summary."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.rules import catalog, predictions, summaries
from pipelines.transforms.count import CountersFn, CountReasons, DuplicateImages, SummarizeScores
from tests import fake_export


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


def _scored(n):
    """The n-th of a run of prediction records: every third Unknown, a known one in four a disagreement."""
    unknown = n % 3 == 0
    disagrees = n % 4 == 1 and not unknown
    return predictions.Prediction(
        id=str(1000 - n), productDisplayName=f'item {n}', masterCategory='Apparel', subCategory='Topwear',
        articleType='Tshirts', given_class='Unknown' if unknown else 'Tshirts',
        predicted_class='Shirts' if disagrees else 'Tshirts', confidence=0.5 + (n % 5) / 10,
        given_class_probability=None if unknown else round(1 / (n + 2), 6), disagrees=disagrees,
        needs_review=unknown and n % 2 == 0, image_path=f'images/{1000 - n}.jpg')


def _summarize(records, check):
    """Runs SummarizeScores over `records` (and one quarantine record); `check` asserts on its one summary."""
    model = fake_export.model(flag_max_given_probability=0.01)

    def one(summaries_out):
        assert len(summaries_out) == 1
        check(summaries_out[0])

    with TestPipeline() as p:
        quarantine = p | 'quarantine' >> beam.Create([catalog.quarantine_record('7', 'missing_image', '', '')])
        summary = ({'records': p | 'records' >> beam.Create(records), 'quarantine': quarantine}
                   | SummarizeScores(model, predictions.Thresholds()))
        assert_that(summary, one)


def test_the_scoring_summary_counts_samples_and_ranks_every_record_in_one_pass():
    records = [_scored(n) for n in range(120)]
    _summarize(records, lambda summary: _check_summary(summary, records))


def _check_summary(summary, records):
    unknown = [r for r in records if r.given_class == 'Unknown']
    flagged = [r for r in records if r.disagrees]
    assert summary['scored'] == 120 and summary['quarantined'] == 1
    assert summary['unknown_labelled']['count'] == len(unknown)
    assert summary['unknown_labelled']['needs_review'] == sum(r.needs_review for r in unknown)
    assert summary['unknown_labelled']['sample'] == [summaries.brief(r) for r in sorted(
        unknown, key=lambda r: int(r.id))[:summaries.SAMPLE_SIZE]]
    assert summary['disagreements']['count'] == len(flagged)
    assert summary['disagreements']['top'] == [summaries.brief(r) for r in sorted(
        flagged, key=lambda r: r.given_class_probability)[:summaries.TOP_DISAGREEMENTS]]
    assert abs(summary['mean_confidence'] - sum(r.confidence for r in records) / 120) < 1e-9


def test_the_scoring_summary_of_no_records_has_empty_samples_and_no_mean():
    def check(summary):
        assert summary['scored'] == 0 and summary['mean_confidence'] is None
        assert summary['unknown_labelled']['sample'] == [] and summary['disagreements']['top'] == []

    _summarize([], check)
