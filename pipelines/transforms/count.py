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


class _Where(beam.CombineFn):
    """`inner` over `view(element)` of the elements `where` keeps (all when it is None): one part of a one-pass
    SingleInputTupleCombineFn, in place of a Filter and a Map step per record before a combiner of its own."""

    def __init__(self, inner, view, where=None):
        super().__init__()
        self._inner, self._view, self._where = inner, view, where

    def setup(self, *args, **kwargs):
        self._inner.setup(*args, **kwargs)

    def create_accumulator(self):
        return self._inner.create_accumulator()

    def add_input(self, accumulator, element):
        if self._where is None or self._where(element):
            accumulator = self._inner.add_input(accumulator, self._view(element))
        return accumulator

    def merge_accumulators(self, accumulators):
        return self._inner.merge_accumulators(accumulators)

    def compact(self, accumulator):
        return self._inner.compact(accumulator)

    def extract_output(self, accumulator):
        return self._inner.extract_output(accumulator)

    def teardown(self, *args, **kwargs):
        self._inner.teardown(*args, **kwargs)


def _summary_parts():
    """One pass over the prediction records: their counters, the lowest-id Unknown items (a sample), the most
    suspicious disagreements and the mean confidence (NaN when none was scored)."""
    combiners = beam.combiners
    return combiners.SingleInputTupleCombineFn(
        CountersFn(summaries.prediction_keys),
        _Where(combiners.TopCombineFn(summaries.SAMPLE_SIZE, key=lambda b: int(b['id']), reverse=True),
               summaries.brief, where=lambda r: r.given_class == UNKNOWN),
        _Where(combiners.TopCombineFn(summaries.TOP_DISAGREEMENTS, reverse=True,
                                      key=lambda b: (b['given_class_probability'], int(b['id']))),
               summaries.brief, where=lambda r: r.disagrees),
        _Where(combiners.MeanCombineFn(), lambda r: r.confidence))


def _build_summary(parts, by_reason, thresholds, model):
    counts, unknown_sample, top_disagreements, mean = parts
    summary = summaries.build_summary(counts, by_reason, unknown_sample, top_disagreements, thresholds,
                                      model.flag_max_given_probability, model.flag_fit, model.kind,
                                      model.flag_type_max_given_probability if model.full_labels else None,
                                      tuple(model.attributes.values) if model.attributes else ())
    return dict(summary, mean_confidence=None if mean != mean else mean)  # NaN: none scored


@beam.typehints.with_output_types(typing.Dict[str, typing.Any])
class SummarizeScores(beam.PTransform):
    """{'records': prediction records, 'quarantine': quarantine records} -> a singleton summary dict (see
    `build_summary`); the quarantine records feed its counts.
    Every figure of the records comes from one combine, so that each record passes one step rather than five and
    the pipeline holds three combiners fewer, which shortens its start-up (BENCHMARKS.md, issue 23)."""

    def __init__(self, model, thresholds):
        super().__init__()
        self._model, self._thresholds = model, thresholds

    def expand(self, inputs):
        by_reason = inputs['quarantine'] | 'count quarantine per reason' >> CountReasons()
        return (inputs['records']
                | 'summarize records' >> beam.CombineGlobally(_summary_parts())
                | 'build summary' >> beam.Map(_build_summary, beam.pvalue.AsDict(by_reason), self._thresholds,
                                              self._model))
