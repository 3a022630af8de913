"""The score job and the nightly on a real local Spark cluster (deploy/spark/), against the DirectRunner's runs
of the same inputs (the session's shared baselines, which test_flink.py compares with too).

The master, the worker and its executors, the cluster's job server (every job's driver) and the Beam worker pool
are processes of their own. Every test runs under the socket watch: nothing of the
cluster, of the driver or of the SDK harnesses may listen outside loopback. Under CI a missing part fails the
tests; elsewhere they are skipped with the command that installs it (tests/conftest.py, `missing`).
"""
import os
import shlex
import time

import pytest

from pipelines import cli
from pipelines.jobs import nightly, score
from tests.deploy.clusters import (assert_same, cluster_command, cluster_pids, current_run, jvms_started_here,
                                   loopback_only as watch_loopback, predictions, quarantined,
                                   started_cluster)
from tests.nightly_days import published
from tests.sockets import assert_loopback, snapshot

pytestmark = pytest.mark.slow
PORT_BASE = 28400  # not the default 28200, so a developer's own cluster can keep running


def _cluster(command, state_dir):
    return cluster_command('spark', command, state_dir, PORT_BASE)


@pytest.fixture(scope='module')
def spark(tmp_path_factory):
    """A started cluster: (its pipeline options, its state folder)."""
    installed = ('.spark/spark-3.2.2/bin/spark-class', '.spark/job-server/beam-spark-job-server.jar')
    with started_cluster(tmp_path_factory, 'spark', PORT_BASE, installed) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def loopback_only(spark):
    """Yields the listening sockets seen while the test runs; fails it if any was outside loopback."""
    with watch_loopback(spark[1]) as sockets:
        yield sockets


def test_the_cluster_listens_on_127_0_0_1_only_and_a_second_start_changes_nothing(spark):
    options, state_dir = spark
    pids = cluster_pids(state_dir)
    sockets = snapshot(pids)
    assert len(sockets) >= 5, sockets  # the master and its web UI, the worker and its web UI, the worker pool
    assert_loopback(sockets, 'the cluster')
    again = _cluster('start', state_dir)
    assert again.returncode == 0 and 'started nothing (already running)' in again.stdout
    assert shlex.split(again.stdout.strip().splitlines()[-1]) == options
    status = _cluster('status', state_dir)
    assert status.returncode == 0 and shlex.split(status.stdout.strip().splitlines()[-1]) == options


def test_the_cluster_s_job_server_serves_two_pipelines_in_a_row_and_neither_starts_a_jvm(
        spark, trained, scored_trained, tmp_path):
    options, state_dir = spark
    assert any(o.startswith('--job_endpoint=') for o in options)
    with open(os.path.join(state_dir, 'pid', 'job-server.pid'), encoding='ascii') as f:
        job_server = int(f.read())
    direct_dir, direct = scored_trained
    for run in ('first', 'second'):
        with jvms_started_here() as started:
            on_spark = score.run(['--catalog', trained[0], '--model', trained[4], '--output', str(tmp_path / run),
                                  *options])
        assert not started, f'the {run} pipeline started a JVM of its own'
        assert_same(direct, on_spark)
        assert_same(predictions(direct_dir), predictions(str(tmp_path / run)))
    assert job_server in cluster_pids(state_dir)  # the same job server served both
    assert not os.listdir(os.path.join(state_dir, 'artifacts')), 'staged artifacts outlived their jobs'


def test_score_matches_the_direct_runner(spark, trained, scored_trained, tmp_path, loopback_only):
    """... with the driver (the job server), the executors and the SDK harnesses all seen by the socket watch."""
    options, _ = spark
    direct_dir, direct = scored_trained
    on_spark = score.run(['--catalog', trained[0], '--model', trained[4], '--output', str(tmp_path / 'spark'),
                          *options])
    commands = {command for _, _, _, command in loopback_only}
    assert any('beam-spark-job-server.jar' in command for command in commands), 'the driver was not seen'
    assert any('CoarseGrainedExecutorBackend' in command for command in commands), 'no executor was seen'
    assert on_spark['runner'] == 'SparkRunner'
    assert_same(direct, on_spark)
    assert_same(predictions(direct_dir), predictions(str(tmp_path / 'spark')))
    assert quarantined(direct_dir) == quarantined(str(tmp_path / 'spark'))
    assert on_spark['counters']['images_scored'] == on_spark['scored']


def test_the_nightly_matches_the_direct_runner_on_day_one_and_day_two(spark, days, trained, two_nights, tmp_path):
    options, _ = spark
    direct_state, first, _, second = two_nights
    state_dir = str(tmp_path / 'spark')
    on_spark = [nightly.run(['--catalog', days[day], '--model', trained[4], '--state', state_dir, *options])
                for day in ('day1', 'day2')]
    assert [s['runner'] for s in on_spark] == ['SparkRunner'] * 2
    for direct, spark_summary in zip((first, second), on_spark):
        assert_same(direct, spark_summary)
    assert_same(published(direct_state), published(state_dir))
    assert quarantined(current_run(direct_state)) == quarantined(current_run(state_dir))


@pytest.mark.parametrize('change, code, message', [
    (lambda o: [x for x in o if not x.startswith('--job_endpoint')], 2, 'needs --spark_master_url=spark://'),
    (lambda o: [x for x in o if not x.startswith('--job_endpoint')] + ['--spark_master_url=spark://127.0.0.1:9',
                                                                         '--spark_job_server_jar=/no/such.jar'], 2,
     'does not exist'),
    (lambda o: [x.replace(f':{PORT_BASE + 5}', ':9') if x.startswith('--job_endpoint') else x for x in o], 75,
     'job service (--job_endpoint) at 127.0.0.1:9 does not answer'),
])
def test_a_bad_option_or_a_master_that_does_not_answer_is_one_line(spark, trained, tmp_path, capsys, change, code,
                                                                   message):
    options, _ = spark
    start = time.monotonic()
    status = cli.main(['score', '--catalog', trained[0], '--model', trained[4], '--output', str(tmp_path / 'scores'),
                       *change(options)])
    err = capsys.readouterr().err.strip()
    assert status == code and len(err.splitlines()) == 1 and message in err, err
    assert time.monotonic() - start < 60 and not os.path.exists(tmp_path / 'scores')
