"""Checks of a job's Beam pipeline options before any work starts, and the runner's failures in one line.

Beam itself would answer a typo in an option by ignoring it, a bad value with its whole usage page, a Flink
or Spark job with no master by starting an embedded engine that downloads Beam's job server jar, and a cluster
that is down with a wait and a Java stack trace. Here each is one line: a bad option or a missing part exits 2 (a retry
cannot help), a cluster or worker pool that does not answer exits 75 (temporary: the DAGs retry it).
"""
import contextlib
import io
import json
import os
import re
import socket
import urllib.parse
import urllib.request
import uuid

from apache_beam.options.pipeline_options import (FlinkRunnerOptions, GoogleCloudOptions, PortableOptions,
                                                  SparkRunnerOptions, StandardOptions)
from apache_beam.runners import runner as beam_runner

from pipelines.errors import JobFailed, Unavailable, UserError

CONNECT_TIMEOUT_S = 10
CANCEL_TIMEOUT_S = 10
# Flink's job states in which a job still runs or will (https://nightlies.apache.org/flink/flink-docs-release-1.19/
# docs/ops/rest_api/: JobStatus).
FLINK_LIVE_STATES = {'INITIALIZING', 'CREATED', 'RUNNING', 'RESTARTING', 'FAILING', 'RECONCILING'}
# Beam's FlinkRunner names for "no cluster": it would start an embedded Flink, downloading the job server jar.
EMBEDDED_FLINK = ('[auto]', '[local]')


def check(options):
    """UserError or Unavailable (both one line) when the options cannot run a job as given."""
    all_options = _parsed(options)
    unknown = sorted(set(options.get_all_options(retain_unknown_options=True)) - set(all_options))
    if unknown:
        raise UserError(f'unknown pipeline option --{unknown[0]} (Beam would ignore it)')
    try:
        kind = _runner_kind(options)
    except ValueError as e:
        raise UserError(f'unknown runner --runner={options.view_as(StandardOptions).runner}') from e
    portable = options.view_as(PortableOptions)
    if kind == 'FlinkRunner':
        _check_flink(options.view_as(FlinkRunnerOptions), portable.job_endpoint)
    elif kind == 'SparkRunner':
        _check_spark(options.view_as(SparkRunnerOptions), portable.job_endpoint)
    if kind in ('FlinkRunner', 'SparkRunner', 'PortableRunner') and portable.job_endpoint not in (None, 'embed'):
        _check_reachable('the job service (--job_endpoint)', portable.job_endpoint)
    if kind in ('FlinkRunner', 'SparkRunner', 'PortableRunner') and portable.environment_type == 'EXTERNAL':
        _check_reachable('the Beam worker pool (--environment_config)', portable.environment_config or '')


def _runner_kind(options):
    """The class name of the runner the options choose (ValueError for an unknown one)."""
    name = options.view_as(StandardOptions).runner or 'DirectRunner'
    return type(beam_runner.create_runner(name)).__name__


def _parsed(options):
    """Beam's own parse of the options; a bad value is one line, not Beam's usage page."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return options.get_all_options()
    except SystemExit as e:
        errors = [line.split('error: ', 1)[1] for line in stderr.getvalue().splitlines() if 'error: ' in line]
        raise UserError(f'bad pipeline option: {errors[-1] if errors else stderr.getvalue().strip()}') from e


def _check_flink(flink, job_endpoint):
    """A Flink job needs the cluster's address (the launcher cancels its job there) and a job server: the cluster's
    (--job_endpoint) or one the launcher starts from --flink_job_server_jar."""
    if not flink.flink_master or flink.flink_master in EMBEDDED_FLINK:
        raise UserError('--runner=FlinkRunner needs --flink_master=HOST:PORT of a running cluster: Beam\'s embedded '
                        'Flink would download its job server at run time (deploy/flink/cluster.py start prints the '
                        'options for a local cluster)')
    if not job_endpoint:
        _check_job_server_jar('flink', flink.flink_job_server_jar)
    _check_reachable('the Flink cluster (--flink_master)', flink.flink_master)


def _check_spark(spark, job_endpoint):
    if not job_endpoint and not spark.spark_master_url.startswith('spark://'):
        raise UserError(f'--runner=SparkRunner needs --spark_master_url=spark://HOST:PORT of a running cluster, not '
                        f'{spark.spark_master_url!r}: Beam would run an embedded Spark in its job server '
                        '(deploy/spark/cluster.py start prints the options for a local cluster)')
    if not job_endpoint:
        _check_job_server_jar('spark', spark.spark_job_server_jar)
        _check_reachable('the Spark master (--spark_master_url)', spark.spark_master_url)


def _check_job_server_jar(engine, jar):
    """Without the option Beam would download its job server at run time."""
    if not jar:
        raise UserError(f'--runner={engine.capitalize()}Runner needs --{engine}_job_server_jar '
                        f'(deploy/{engine}/install builds it): without it Beam downloads the job server at run time')
    if not os.path.isfile(jar):
        raise UserError(f'--{engine}_job_server_jar {jar!r} does not exist (deploy/{engine}/install builds it)')


def _check_reachable(what, address):
    """Unavailable unless HOST:PORT (or a URL) accepts a connection within CONNECT_TIMEOUT_S."""
    parsed = urllib.parse.urlsplit(address if '//' in address else f'//{address}')
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise UserError(f'{what}: {address!r} is not HOST:PORT')
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise Unavailable(f'{what} at {host}:{port} does not answer ({e.strerror or e})') from e


def failure(error):
    """JobFailed with the pipeline's own error in one line, from a runner's failed-job exception.

    A portable runner (Flink, Spark) reports a worker's failure as the Java job's message, which quotes the
    Python traceback from the SDK harness: its last exception line (`OSError: ...`, with Beam's "[while running
    'step']") is the error a person needs."""
    text = str(error)
    python_errors = re.findall(r'^([A-Za-z_][\w.]*(?:Error|Exception|Exit)\b: .*)$', text, re.MULTILINE)
    python_errors = [line for line in python_errors if not line.startswith(('java.', 'org.', 'io.grpc.'))]
    state = re.search(r'failed in state (\w+)', text)
    line = python_errors[-1] if python_errors else ' '.join(text.split())[:500]
    return JobFailed(f'the job {"failed" if not state else state.group(1).lower()} on the runner: {line}')


def name_cluster_job(options, job):
    """Gives a job on a Flink cluster a unique name (unless --job_name gave one) and returns it, so that the
    launcher can find the cluster's job again to cancel it; None on other runners."""
    if _runner_kind(options) != 'FlinkRunner':
        return None
    cloud = options.view_as(GoogleCloudOptions)
    if not cloud.job_name:
        cloud.job_name = f'fashion-{job}-{uuid.uuid4().hex[:12]}'
    return cloud.job_name


def cancel_cluster_job(options, job_name):
    """Cancels, through Flink's REST API, the cluster's live jobs named `job_name`: when the launcher is
    stopped (a scheduler's time limit, Ctrl-C), the job server it started dies with it, and the job would go on
    running on the cluster. Returns the ids cancelled; best effort, since the launcher is on its way out."""
    master = options.view_as(FlinkRunnerOptions).flink_master
    base = master if '://' in master else f'http://{master}'
    cancelled = []
    try:
        with urllib.request.urlopen(f'{base}/jobs/overview', timeout=CANCEL_TIMEOUT_S) as response:
            jobs = json.load(response)['jobs']
        for job in jobs:
            if job.get('name') == job_name and job.get('state') in FLINK_LIVE_STATES:
                request = urllib.request.Request(f'{base}/jobs/{job["jid"]}?mode=cancel', method='PATCH')
                with urllib.request.urlopen(request, timeout=CANCEL_TIMEOUT_S):
                    cancelled.append(job['jid'])
    except (OSError, ValueError, KeyError):
        pass
    return cancelled
