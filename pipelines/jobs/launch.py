"""Running a built pipeline from the launcher: wait for it, then read back its monitoring counters.

The counters (rows read, images scored, quarantined by reason) are what a runner reports: on a cluster they
may be attempted values that count retried bundles. They serve progress and monitoring only; the counts a
job reconciles and publishes come from the files its sinks wrote.
"""
import copy
import sys

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines.jobs import arguments, loopback, runners
from pipelines.transforms.count import NAMESPACE


def counters(result):
    """{counter name: value} of the job's own counters (committed where the runner has them, else attempted)."""
    found = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))['counters']:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + (value or 0)
    return dict(sorted(found.items()))


def run(pipeline_options, build, *args):
    """Builds a pipeline with build(p, *args), runs it to the end and returns its counters.

    The pipeline gets its own copy of the options: Beam's portable runners (Flink, Spark) change the options
    they are given (they clear --runner, rewrite --flink_master), and a job that runs two pipelines (nightly:
    validation, then scoring) would otherwise run its second one on the DirectRunner. When the launcher stops
    before the job ends (SIGTERM from a scheduler's time limit, Ctrl-C, an error), a job on a Flink cluster is
    cancelled by its name, since the job server that would cancel it ends with the launcher. Beam's own servers
    in this process listen on loopback (loopback.py)."""
    loopback.apply()
    options = copy.deepcopy(pipeline_options)
    cluster_job = runners.name_cluster_job(options, build.__module__.rsplit('.', 1)[-1])
    p = beam.Pipeline(options=options)
    build(p, *args)
    try:
        result = p.run()
        result.wait_until_finish()
    except BaseException as e:
        _cancel(pipeline_options, cluster_job)  # a failed job is no longer live: nothing to cancel
        if isinstance(e, RuntimeError) and 'failed in state' in str(e):  # a portable runner's failed job
            raise runners.failure(e) from e
        raise
    found = counters(result)
    runner = arguments.runner_description(pipeline_options)
    if not runner.startswith('DirectRunner'):  # on a cluster, the progress a person watches; locally, noise
        print(f'{runner} counters (as the runner reports them; a retried bundle may count twice): '
              + (', '.join(f'{name} {value}' for name, value in found.items()) or 'none'), flush=True)
    return found


def _cancel(pipeline_options, cluster_job):
    if cluster_job is not None:
        for job_id in runners.cancel_cluster_job(pipeline_options, cluster_job):
            print(f'cancelled the cluster job {job_id} ({cluster_job})', file=sys.stderr, flush=True)
