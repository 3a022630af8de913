"""Running a built pipeline from the launcher: wait for it, then read back its monitoring counters.

The counters (rows read, images scored, quarantined by reason) are what a runner reports: on a cluster they
may be attempted values that count retried bundles. They serve progress and monitoring only; the counts a
job reconciles and publishes come from the files its sinks wrote.
"""
import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines.transforms.count import NAMESPACE


def counters(result):
    """{counter name: value} of the job's own counters (committed where the runner has them, else attempted)."""
    found = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))['counters']:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + (value or 0)
    return dict(sorted(found.items()))


def run(pipeline_options, build, *args):
    """Builds a pipeline with build(p, *args), runs it to the end and returns its counters."""
    p = beam.Pipeline(options=pipeline_options)
    build(p, *args)
    result = p.run()
    result.wait_until_finish()
    return counters(result)
