"""Counting in Beam: progress, counters over elements, quarantine reasons, duplicate images, the scoring
summary."""
import collections
import sys
import typing

import apache_beam as beam

from pipelines.rules import catalog, manifest, summaries
from pipelines.rules.taxonomy import UNKNOWN


class Progress:
    """A Beam counter (shown live by runners with a UI, queried at the end on the DirectRunner) that also
    prints a progress line to stderr every `every` elements a worker handles."""

    def __init__(self, name, every=5000):
        self._name, self._every = name, every
        self._counter = beam.metrics.Metrics.counter(NAMESPACE, name)
        self._seen = 0

    def inc(self):
        self._counter.inc()
        self._seen += 1
        if self._seen % self._every == 0:
            print(f'  ... {self._name.replace("_", " ")}: {self._seen:,} (this worker)', file=sys.stderr, flush=True)


NAMESPACE = 'fashion_pipeline'  # every job's Beam counters: rows_read, images_scored, quarantined_<reason>


def count_quarantined(record):
    """Counts a quarantine record in the `quarantined_<reason>` counter; returns it unchanged."""
    beam.metrics.Metrics.counter(NAMESPACE, f'quarantined_{record.reason}').inc()
    return record


class CountersFn(beam.CombineFn):
    """Elements -> {counter name: {key: count}}, for the (counter name, key) pairs `keys_fn` gives each."""

    def __init__(self, keys_fn):
        super().__init__()
        self._keys_fn = keys_fn

    def create_accumulator(self):
        return collections.defaultdict(collections.Counter)

    def add_input(self, accumulator, element):
        for name, key in self._keys_fn(element):
            accumulator[name][key] += 1
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for name, counter in accumulator.items():
                merged[name].update(counter)
        return merged

    def extract_output(self, accumulator):
        return {name: dict(counter) for name, counter in accumulator.items()}


@beam.typehints.with_input_types(catalog.Quarantined)
@beam.typehints.with_output_types(typing.Tuple[str, int])
class CountReasons(beam.PTransform):
    """Quarantine records -> (reason, count) pairs, for a side input AsDict."""

    def expand(self, records):
        return (records
                | 'reason' >> beam.Map(lambda r: r.reason)
                | 'count per reason' >> beam.combiners.Count.PerElement())


class DuplicateImages(beam.PTransform):
    """Row summaries -> one dict per group of byte-identical images (ids, their labels and classes)."""

    def expand(self, summaries):
        return (summaries
                | 'key by content hash' >> beam.Map(
                    lambda s: (s['content_hash'], (s['id'], s['label'], s['class_name'])))
                | 'group identical images' >> beam.GroupByKey()
                | 'keep groups of two or more' >> beam.FlatMap(manifest.duplicate_group))


@beam.typehints.with_input_types(catalog.Row)
@beam.typehints.with_output_types(typing.Dict[str, typing.Any])
class SummarizeScores(beam.PTransform):
    """Prediction records -> a singleton summary dict (see `build_summary`); `quarantine` feeds its counts."""

    def __init__(self, quarantine, model, thresholds):
        super().__init__()
        self._quarantine, self._model, self._thresholds = quarantine, model, thresholds

    def expand(self, records):
        side = beam.pvalue
        by_reason = self._quarantine | 'count quarantine per reason' >> CountReasons()
        unknown_sample = (records
                          | 'given Unknown only' >> beam.Filter(lambda r: r['given_class'] == UNKNOWN)
                          | 'brief unknown' >> beam.Map(summaries.brief)
                          | 'lowest unknown ids' >> beam.combiners.Top.Smallest(
                              summaries.SAMPLE_SIZE, key=lambda r: int(r['id'])))
        top_disagreements = (records
                             | 'disagreements only' >> beam.Filter(lambda r: r['disagrees'])
                             | 'brief disagreement' >> beam.Map(summaries.brief)
                             | 'most suspicious disagreements' >> beam.combiners.Top.Smallest(
                                 summaries.TOP_DISAGREEMENTS, key=lambda r: (r['given_class_probability'],
                                                                             int(r['id']))))
        mean_confidence = (records
                           | 'confidence' >> beam.Map(lambda r: r['confidence'])
                           | 'mean confidence' >> beam.combiners.Mean.Globally())
        return (records
                | 'count predictions' >> beam.CombineGlobally(CountersFn(summaries.prediction_keys))
                | 'build summary' >> beam.Map(summaries.build_summary, side.AsDict(by_reason),
                                              side.AsSingleton(unknown_sample),
                                              side.AsSingleton(top_disagreements), self._thresholds,
                                              self._model.flag_max_given_probability, self._model.flag_fit)
                | 'add mean confidence' >> beam.Map(
                    lambda s, mean: dict(s, mean_confidence=None if mean != mean else mean),  # NaN: none scored
                    side.AsSingleton(mean_confidence)))
