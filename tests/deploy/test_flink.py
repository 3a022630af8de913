"""Every Beam job on a real local Flink cluster (deploy/flink/), against the DirectRunner on the same input.

The cluster runs as separate processes (JobManager, TaskManager, Beam worker pool in its own folder), so these
tests see what a distributed engine changes: DoFns run outside the launching process, in another working
directory, workers write the files, side inputs are broadcast and counters come back through the runner.
Under CI (CI set) a missing part fails the tests; elsewhere they are skipped with the command that installs it
(tests/conftest.py, `missing`).
"""
import glob
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from pipelines import artifacts, cli
from pipelines.jobs import nightly, prepare, score, validate
from tests.conftest import read_examples
from tests.deploy.clusters import (assert_same, cluster_command, cluster_pids, current_run, started_cluster,
                                   harnesses_while_running, jvms_started_here, loopback_only as watch_loopback,
                                   predictions, quarantined, read_json)
from tests.nightly_days import published
from tests.sockets import assert_loopback, snapshot

pytestmark = pytest.mark.slow
PORT_BASE = 28300  # not the default 28100, so a developer's own cluster can keep running
flink_job_servers = []  # the job server that served test_validate's pipeline, for test_prepare's


def _cluster(command, state_dir):
    return cluster_command('flink', command, state_dir, PORT_BASE)


@pytest.fixture(scope='module')
def flink(tmp_path_factory):
    """A started cluster: (its pipeline options, its state folder)."""
    installed = ('.flink/flink-1.19.0/lib/flink-dist-1.19.0.jar', '.flink/job-server/beam-flink-job-server.jar')
    with started_cluster(tmp_path_factory, 'flink', PORT_BASE, installed) as cluster:
        yield cluster


def test_the_cluster_listens_on_127_0_0_1_only_and_a_second_start_changes_nothing(flink, tmp_path):
    """... and a cluster in another state folder on the same ports is refused, not answered by this one."""
    options, state_dir = flink
    other = _cluster('start', str(tmp_path / 'other'))
    assert other.returncode == 1 and 'rest 127.0.0.1:28300 is in use by another process' in other.stderr, other
    pids = cluster_pids(state_dir)
    sockets = snapshot(pids)
    assert len(sockets) >= 8, sockets  # REST, RPC, blob, each TaskManager's RPC and data, the worker pool
    assert_loopback(sockets, 'the cluster')
    again = _cluster('start', state_dir)
    assert again.returncode == 0 and 'started nothing (already running)' in again.stdout
    assert shlex.split(again.stdout.strip().splitlines()[-1]) == options
    assert cluster_pids(state_dir) >= {pid for pid in pids if os.path.exists(f'/proc/{pid}')}
    status = _cluster('status', state_dir)
    assert status.returncode == 0 and shlex.split(status.stdout.strip().splitlines()[-1]) == options


@pytest.fixture(autouse=True)
def loopback_only(request):
    """Every test on the cluster runs under the socket watch, and no process of the cluster, of the job server or
    of the SDK harnesses may listen outside loopback at any moment of it. Yields the sockets seen."""
    if 'flink' not in request.fixturenames:
        yield None
        return
    _, state_dir = request.getfixturevalue('flink')
    with watch_loopback(state_dir) as sockets:
        yield sockets


def _patch_lines(state_dir):
    """The loopback patch's lines in the TaskManagers' logs (deploy/flink/loopback.patch logs each server it binds)."""
    found = []
    for path in glob.glob(os.path.join(state_dir, 'log', '*taskexecutor*.log')):
        with open(path, encoding='utf-8', errors='replace') as f:
            found += [line for line in f if '(loopback patch)' in line]
    return found


def _task_managers(state_dir):
    pids = set()
    for path in glob.glob(os.path.join(state_dir, 'pid', '*-taskexecutor.pid')):
        with open(path, encoding='ascii') as f:
            pids |= {int(pid) for pid in f.read().split()}
    return pids


def _job_server(state_dir):
    with open(os.path.join(state_dir, 'pid', 'job-server.pid'), encoding='ascii') as f:
        return int(f.read())


def test_validate_matches_the_direct_runner(flink, synthetic_catalog, validated_synthetic, tmp_path):
    """... through the cluster's job server: the pipeline starts no JVM of its own (with the next test: one job
    server serves two pipelines in a row)."""
    options, state_dir = flink
    direct_dir, _ = validated_synthetic
    assert any(o.startswith('--job_endpoint=') for o in options)
    assert not any(o.startswith('--flink_job_server_jar') for o in options)
    with jvms_started_here() as started:
        validate.run(['--catalog', synthetic_catalog, '--output', str(tmp_path / 'flink'), *options])
    assert not started, 'the pipeline started a JVM of its own'
    flink_job_servers.append(_job_server(state_dir))
    direct, on_flink = (read_json(os.path.join(folder, artifacts.MANIFEST)) for folder in (direct_dir,
                                                                                             str(tmp_path / 'flink')))
    assert on_flink['runner'] == 'FlinkRunner'
    assert_same(direct, on_flink)
    assert on_flink['counters']['rows_read'] == on_flink['rows_read']
    assert quarantined(direct_dir) == quarantined(str(tmp_path / 'flink'))


def test_prepare_matches_the_direct_runner_with_a_relative_output_path(flink, synthetic_catalog, prepared_synthetic,
                                                                       tmp_path, monkeypatch):
    """... as the second pipeline through the same job server, which starts no JVM either and leaves no staged
    artifact behind."""
    options, state_dir = flink
    direct = prepared_synthetic[0]
    monkeypatch.chdir(tmp_path)
    with jvms_started_here() as started:
        prepare.run(['--catalog', synthetic_catalog, '--output', 'flink', *options])
    assert not started, 'the pipeline started a JVM of its own'
    assert flink_job_servers in ([], [_job_server(state_dir)]) and _job_server(state_dir) in cluster_pids(state_dir)
    assert not os.listdir(os.path.join(state_dir, 'artifacts')), 'staged artifacts outlived their jobs'
    assert_same(read_json(os.path.join(direct, artifacts.MANIFEST)), read_json('flink/manifest.json'))
    assert read_examples(direct) == read_examples('flink')
    assert _serialized_examples(direct) == _serialized_examples('flink')
    assert quarantined(direct) == quarantined('flink')


def _serialized_examples(prepared_dir):
    """Every tf.train.Example of a prepared folder, serialized deterministically, as a set."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    found = set()
    for path in glob.glob(os.path.join(prepared_dir, 'tfrecords', '*.tfrecord.gz')):
        for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
            found.add(tf.train.Example.FromString(record.numpy()).SerializeToString(deterministic=True))
    return found


def test_score_matches_the_direct_runner_and_its_counters_come_back(flink, trained, scored_trained, tmp_path, capsys,
                                                                    loopback_only):
    """... on two SDK harnesses at once, one per TaskManager (deploy/flink/cluster.py says why), and the Beam Java gRPC
    servers it starts (the job server's, the TaskManagers' Fn API servers) listen on 127.0.0.1: the TaskManagers
    log that their servers come from the patched ServerFactory."""
    options, state_dir = flink
    catalog_dir, export = trained[0], trained[4]
    direct_dir, direct = scored_trained
    patched_before = len(_patch_lines(state_dir))
    with harnesses_while_running(state_dir) as harnesses:
        on_flink = score.run(['--catalog', catalog_dir, '--model', export, '--output', str(tmp_path / 'flink'),
                              *options])
    assert harnesses['served'] == _task_managers(state_dir) and len(harnesses['served']) == 2, harnesses
    commands = {command for _, _, _, command in loopback_only}
    assert any('beam-flink-job-server.jar' in command for command in commands), 'the job server was not seen'
    assert any('TaskManagerRunner' in command for command in commands)
    assert len(loopback_only) > 8, loopback_only  # 8 listen before any job
    patched = _patch_lines(state_dir)[patched_before:]
    assert patched and all('bound to 127.0.0.1:' in line for line in patched), patched
    assert on_flink['runner'] == 'FlinkRunner'
    assert_same(direct, on_flink)
    assert_same(predictions(direct_dir), predictions(str(tmp_path / 'flink')))
    assert quarantined(direct_dir) == quarantined(str(tmp_path / 'flink'))
    counters = on_flink['counters']
    assert counters['rows_read'] == on_flink['rows_read'] and counters['images_scored'] == on_flink['scored']
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith('FlinkRunner counters'))
    assert line.startswith('FlinkRunner counters (as the runner reports them; a retried bundle may count twice): ')
    assert f'images_scored {on_flink["scored"]}' in line
    assert counters['images_read'] == on_flink['scored'] + on_flink['quarantined_by_reason'].get('undecodable_image', 0)
    assert sum(v for k, v in counters.items() if k.startswith('quarantined_')) == on_flink['quarantined']


def test_the_nightly_matches_the_direct_runner_on_day_one_and_day_two(flink, days, trained, two_nights, tmp_path):
    options, _ = flink
    direct_state, first, _, second = two_nights
    state_dir = str(tmp_path / 'flink')
    on_flink = [nightly.run(['--catalog', days[day], '--model', trained[4], '--state', state_dir, *options])
                for day in ('day1', 'day2')]
    assert [s['runner'] for s in on_flink] == ['FlinkRunner'] * 2
    assert on_flink[1]['changes'] == {'new': 50, 'changed': 20, 'unchanged': len(days['active1']) - 30,
                                      'known_removed': 10}
    for direct, flink_summary in zip((first, second), on_flink):
        assert_same(direct, flink_summary)
    assert_same(published(direct_state), published(state_dir))
    assert quarantined(current_run(direct_state)) == quarantined(current_run(state_dir))


def _cli(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr().err.strip()


def test_a_failing_worker_fails_the_run_in_one_line_and_publishes_nothing(flink, trained, tmp_path, capsys):
    options, _ = flink
    broken = str(tmp_path / 'model')
    shutil.copytree(trained[4], broken)
    with open(os.path.join(broken, 'saved_model.pb'), 'wb') as f:
        f.write(b'not a SavedModel')  # the launcher reads only assets.extra; the workers load the graph
    output = str(tmp_path / 'scores')
    code, err = _cli(capsys, 'score', '--catalog', trained[0], '--model', broken, '--output', output, *options)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert 'failed on the runner' in err and 'saved_model.pb' in err and 'run inference' in err
    assert os.listdir(str(tmp_path)) == ['model']  # neither the output nor its staging folder


def test_a_cluster_that_does_not_answer_ends_within_a_minute_with_exit_75(flink, trained, tmp_path, capsys):
    options, _ = flink
    unreachable = [option.replace(f':{PORT_BASE}', ':9') if option.startswith('--flink_master') else option
                   for option in options]
    start = time.monotonic()
    code, err = _cli(capsys, 'score', '--catalog', trained[0], '--model', trained[4], '--output',
                     str(tmp_path / 'scores'), *unreachable)
    assert code == 75 and time.monotonic() - start < 60
    assert len(err.splitlines()) == 1 and 'does not answer' in err, err


@pytest.mark.parametrize('change, message', [
    (lambda o: [x for x in o if not x.startswith('--flink_master')], 'needs --flink_master'),
    (lambda o: [x for x in o if not x.startswith('--job_endpoint')], 'needs --flink_job_server_jar'),
    (lambda o: [x for x in o if not x.startswith('--job_endpoint')] + ['--flink_job_server_jar=/no/such.jar'],
     'does not exist'),
    (lambda o: o + ['--parallelism=two'], "invalid int value: 'two'"),
    (lambda o: o + ['--flink_mastr=127.0.0.1:1'], 'unknown pipeline option --flink_mastr'),
])
def test_a_bad_flink_option_is_one_line_and_exit_2(flink, trained, tmp_path, capsys, change, message):
    options, _ = flink
    code, err = _cli(capsys, 'score', '--catalog', trained[0], '--model', trained[4], '--output',
                     str(tmp_path / 'scores'), *change(options))
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


def _flink_jobs(options):
    master = next(o.split('=', 1)[1] for o in options if o.startswith('--flink_master='))
    with urllib.request.urlopen(f'http://{master}/jobs/overview', timeout=5) as response:
        return {job['jid']: job for job in json.load(response)['jobs']}


def test_a_launcher_stopped_by_sigterm_cancels_its_job_on_the_cluster(flink, trained, tmp_path):
    """A scheduler's time limit SIGTERMs the launcher's process group, the job server with it: the launcher cancels
    its cluster job through Flink's REST API by the job's name, or the job would go on running there."""
    options, _ = flink
    before = set(_flink_jobs(options))
    launcher = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline'), 'score',
                                 '--catalog', trained[0], '--model', trained[4], '--output', str(tmp_path / 'scores'),
                                 *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        running, deadline = None, time.time() + 240
        while running is None and time.time() < deadline and launcher.poll() is None:
            running = next((jid for jid, job in _flink_jobs(options).items()
                            if jid not in before and job['state'] == 'RUNNING'), None)
            time.sleep(0.5)
        assert running, 'the job never ran on the cluster'
        os.killpg(launcher.pid, signal.SIGTERM)
        _, err = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode == 143, err
    assert f'cancelled the cluster job {running}' in err and 'stopped by SIGTERM' in err, err
    deadline = time.time() + 60
    while _flink_jobs(options)[running]['state'] not in ('CANCELED', 'FINISHED', 'FAILED') and time.time() < deadline:
        time.sleep(0.5)
    assert _flink_jobs(options)[running]['state'] == 'CANCELED'
    assert os.listdir(str(tmp_path)) == [], 'the output or its staging folder was left'
