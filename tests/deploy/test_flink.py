"""Every Beam job on a real local Flink cluster (deploy/flink/), against the DirectRunner on the same input.

The cluster runs as separate processes (JobManager, TaskManager, Beam worker pool in its own folder), so these
tests see what a distributed engine changes: DoFns run outside the launching process, in another working
directory, workers write the files, side inputs are broadcast and counters come back through the runner.
Under CI (CI set) a missing part fails the tests; elsewhere they are skipped with the command that installs it.
"""
import contextlib
import glob
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest

from pipelines import artifacts, cli
from pipelines.jobs import nightly, prepare, score, validate
from tests.conftest import ROOT, read_examples
from tests.nightly_days import published

pytestmark = pytest.mark.slow
CLUSTER = os.path.join(ROOT, 'deploy', 'flink', 'cluster.py')
PORT_BASE = 28300  # not the default 28100, so a developer's own cluster can keep running
# Fields that say how or when a job ran, not what it computed.
RUN_FIELDS = {'runner', 'wall_seconds', 'images_per_second', 'run_id', 'previous_run', 'model_path', 'figures',
              'scored_in_run', 'updated_in_run', 'first_seen_run'}


def _cluster(command, state_dir):
    return subprocess.run([sys.executable, CLUSTER, command, '--state-dir', state_dir, '--port-base', str(PORT_BASE)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def flink(tmp_path_factory):
    """A started cluster: (its pipeline options, its state folder)."""
    missing = [path for path in ('.flink/flink-1.19.0/lib/flink-dist-1.19.0.jar',
                                 '.flink/job-server/beam-flink-job-server.jar')
               if not os.path.exists(os.path.join(ROOT, path))]
    if missing:
        message = f'{missing[0]} is missing: run deploy/flink/install'
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)
    state_dir = str(tmp_path_factory.mktemp('flink-cluster'))
    started = _cluster('start', state_dir)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield shlex.split(started.stdout.strip().splitlines()[-1]), state_dir
    finally:
        _cluster('stop', state_dir)


def assert_same(direct, flink, path='', tolerance=1e-5):
    """Equal, apart from RUN_FIELDS and floats within `tolerance`."""
    if isinstance(direct, dict):
        assert isinstance(flink, dict) and set(direct) - RUN_FIELDS == set(flink) - RUN_FIELDS, path
        for key in set(direct) - RUN_FIELDS:
            assert_same(direct[key], flink[key], f'{path}.{key}', tolerance)
    elif isinstance(direct, list):
        assert isinstance(flink, list) and len(direct) == len(flink), path
        for i, (a, b) in enumerate(zip(direct, flink)):
            assert_same(a, b, f'{path}[{i}]', tolerance)
    elif isinstance(direct, float) and isinstance(flink, float):
        assert math.isclose(direct, flink, abs_tol=tolerance), (path, direct, flink)
    else:
        assert direct == flink, (path, direct, flink)


def read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def quarantined(folder):
    """The quarantine records under folder/quarantine, as a sorted list."""
    records = []
    for path in glob.glob(os.path.join(folder, 'quarantine', '*.jsonl')):
        with open(path, encoding='utf-8') as f:
            records += [json.loads(line) for line in f]
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def predictions(folder):
    rows = pq.ParquetDataset(glob.glob(os.path.join(folder, 'predictions-*.parquet'))).read().to_pylist()
    return {row['id']: row for row in rows}


def _listening_sockets(pids):
    """{(local address hex, port, pid)} of the TCP sockets in LISTEN state that the processes `pids` own."""
    owners = {}
    for pid in pids:
        for fd in glob.glob(f'/proc/{pid}/fd/*'):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith('socket:['):
                owners[target[8:-1]] = pid
    found = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table, encoding='ascii') as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == '0A' and fields[9] in owners:  # 0A: LISTEN
                    address, port = fields[1].split(':')
                    found.add((address, int(port, 16), owners[fields[9]]))
    return found


def _command_line(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return ''


def _descendants(pids):
    children = {}
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat, encoding='ascii') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split('/')[2]))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


LOOPBACK = {'0100007F', '0000000000000000FFFF00000100007F', '00000000000000000000000001000000'}


def cluster_pids(state_dir):
    pids = []
    for pid_file in glob.glob(os.path.join(state_dir, 'pid', '*.pid')):
        with open(pid_file, encoding='ascii') as f:
            pids += [int(pid) for pid in f.read().split()]
    return _descendants(pids)


def test_the_cluster_listens_on_127_0_0_1_only_and_a_second_start_changes_nothing(flink):
    options, state_dir = flink
    pids = cluster_pids(state_dir)
    sockets = _listening_sockets(pids)
    assert len(sockets) >= 6, sockets  # REST, RPC, blob, TaskManager RPC and data, the worker pool
    assert all(address in LOOPBACK for address, _, _ in sockets), sockets
    again = _cluster('start', state_dir)
    assert again.returncode == 0 and 'started nothing (already running)' in again.stdout
    assert shlex.split(again.stdout.strip().splitlines()[-1]) == options
    assert cluster_pids(state_dir) >= {pid for pid in pids if os.path.exists(f'/proc/{pid}')}
    status = _cluster('status', state_dir)
    assert status.returncode == 0 and shlex.split(status.stdout.strip().splitlines()[-1]) == options


@contextlib.contextmanager
def sockets_while_running(state_dir):
    """Collects, every 0.5 s while the block runs, the listening sockets (address, port, pid, command line) of the
    cluster's processes and of this process's children (the job server that Beam's FlinkRunner starts per job)."""
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            for address, port, pid in _listening_sockets(cluster_pids(state_dir) | _descendants([os.getpid()])):
                seen.add((address, port, pid, _command_line(pid)))
            done.wait(0.5)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def _is_beam_java_grpc(command):
    return command.startswith('java ') and ('beam-flink-job-server.jar' in command or 'TaskManagerRunner' in command)


def test_validate_matches_the_direct_runner(flink, synthetic_catalog, tmp_path):
    options, _ = flink
    for name, extra in (('direct', []), ('flink', options)):
        validate.run(['--catalog', synthetic_catalog, '--output', str(tmp_path / name), *extra])
    direct, on_flink = (read_json(str(tmp_path / name / artifacts.MANIFEST)) for name in ('direct', 'flink'))
    assert on_flink['runner'] == 'FlinkRunner'
    assert_same(direct, on_flink)
    assert on_flink['counters']['rows_read'] == on_flink['rows_read']
    assert quarantined(str(tmp_path / 'direct')) == quarantined(str(tmp_path / 'flink'))


def test_prepare_matches_the_direct_runner_with_a_relative_output_path(flink, synthetic_catalog, tmp_path,
                                                                       monkeypatch):
    options, _ = flink
    monkeypatch.chdir(tmp_path)
    prepare.run(['--catalog', synthetic_catalog, '--output', 'direct'])
    prepare.run(['--catalog', synthetic_catalog, '--output', 'flink', *options])
    assert_same(read_json('direct/manifest.json'), read_json('flink/manifest.json'))
    assert read_examples('direct') == read_examples('flink')
    assert _serialized_examples('direct') == _serialized_examples('flink')
    assert quarantined('direct') == quarantined('flink')


def _serialized_examples(prepared_dir):
    """Every tf.train.Example of a prepared folder, serialized deterministically, as a set."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    found = set()
    for path in glob.glob(os.path.join(prepared_dir, 'tfrecords', '*.tfrecord.gz')):
        for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
            found.add(tf.train.Example.FromString(record.numpy()).SerializeToString(deterministic=True))
    return found


def test_score_matches_the_direct_runner_and_its_counters_come_back(flink, trained, tmp_path, capsys):
    """... and every port open while it runs (the job server, the TaskManager's Fn API servers) is on 127.0.0.1."""
    options, state_dir = flink
    catalog_dir, export = trained[0], trained[4]
    direct = score.run(['--catalog', catalog_dir, '--model', export, '--output', str(tmp_path / 'direct')])
    with sockets_while_running(state_dir) as sockets:
        on_flink = score.run(['--catalog', catalog_dir, '--model', export, '--output', str(tmp_path / 'flink'),
                              *options])
    exposed = {(port, command.split()[-1]) for address, port, _, command in sockets if address not in LOOPBACK}
    assert len(sockets) > len(exposed) + 6, sockets  # 6 listen before any job
    # Known gap (docs/cluster.md): Beam Java's gRPC servers (the job server's job and artifact ports, the
    # TaskManager's Fn API ports) bind every interface: its ServerFactory builds them with forPort(port). Everything
    # else, Flink's own ports, the worker pool and the SDK harnesses, listens on 127.0.0.1.
    assert all(_is_beam_java_grpc(command) for address, _, _, command in sockets if address not in LOOPBACK), exposed
    assert on_flink['runner'] == 'FlinkRunner'
    assert_same(direct, on_flink)
    assert_same(predictions(str(tmp_path / 'direct')), predictions(str(tmp_path / 'flink')))
    assert quarantined(str(tmp_path / 'direct')) == quarantined(str(tmp_path / 'flink'))
    counters = on_flink['counters']
    assert counters['rows_read'] == on_flink['rows_read'] and counters['images_scored'] == on_flink['scored']
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith('FlinkRunner counters'))
    assert line.startswith('FlinkRunner counters (as the runner reports them; a retried bundle may count twice): ')
    assert f'images_scored {on_flink["scored"]}' in line
    assert counters['images_read'] == on_flink['scored'] + on_flink['quarantined_by_reason'].get('undecodable_image', 0)
    assert sum(v for k, v in counters.items() if k.startswith('quarantined_')) == on_flink['quarantined']


def test_the_nightly_matches_the_direct_runner_on_day_one_and_day_two(flink, days, trained, tmp_path):
    options, _ = flink
    summaries, catalogs = {}, {}
    for name, extra in (('direct', []), ('flink', options)):
        state_dir = str(tmp_path / name)
        summaries[name] = [nightly.run(['--catalog', days[day], '--model', trained[4], '--state', state_dir, *extra])
                           for day in ('day1', 'day2')]
        catalogs[name] = published(state_dir)
    assert [s['runner'] for s in summaries['flink']] == ['FlinkRunner'] * 2
    assert summaries['flink'][1]['changes'] == {'new': 50, 'changed': 20, 'unchanged': len(days['active1']) - 30,
                                                'known_removed': 10}
    for direct, on_flink in zip(summaries['direct'], summaries['flink']):
        assert_same(direct, on_flink)
    assert_same(catalogs['direct'], catalogs['flink'])
    assert quarantined(_current_run(str(tmp_path / 'direct'))) == quarantined(_current_run(str(tmp_path / 'flink')))


def _current_run(state_dir):
    with open(os.path.join(state_dir, 'CURRENT'), encoding='ascii') as f:
        return os.path.join(state_dir, 'runs', f.read().strip())


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
    (lambda o: [x.replace('.jar', '-missing.jar') for x in o], 'does not exist'),
    (lambda o: o + ['--parallelism=two'], "invalid int value: 'two'"),
    (lambda o: o + ['--flink_mastr=127.0.0.1:1'], 'unknown pipeline option --flink_mastr'),
])
def test_a_bad_flink_option_is_one_line_and_exit_2(flink, trained, tmp_path, capsys, change, message):
    options, _ = flink
    code, err = _cli(capsys, 'score', '--catalog', trained[0], '--model', trained[4], '--output',
                     str(tmp_path / 'scores'), *change(options))
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
