"""What the tests of the local clusters (test_flink.py, test_spark.py) share: comparing a job's outputs with the
DirectRunner's, and watching the processes of a cluster (their listening sockets, their SDK harnesses) while a
job runs. A cluster's processes are those in the pid files of its state folder, and their descendants."""
import contextlib
import glob
import json
import math
import os
import re
import shlex
import subprocess
import sys

import pyarrow.parquet as pq

from tests import sockets
from tests.conftest import ROOT, missing
from tests.sockets import command_line, descendants, every_interval, listening_sockets

# Fields that say how or when a job ran, not what it computed.
RUN_FIELDS = {'runner', 'wall_seconds', 'stage_seconds', 'images_per_second', 'run_id', 'previous_run', 'model_path',
              'figures', 'scored_in_run', 'updated_in_run', 'first_seen_run'}


def cluster_command(engine, command, state_dir, port_base):
    """deploy/ENGINE/cluster.py COMMAND for the cluster in STATE_DIR."""
    return subprocess.run([sys.executable, os.path.join(ROOT, 'deploy', engine, 'cluster.py'), command,
                           '--state-dir', state_dir, '--port-base', str(port_base)],
                          capture_output=True, text=True, timeout=300)


@contextlib.contextmanager
def started_cluster(tmp_path_factory, engine, port_base, installed):
    """Starts a cluster in a fresh state folder and yields (its pipeline options, the folder); stops it after.
    `installed`: the paths under the repository that deploy/ENGINE/install makes, checked first."""
    absent = [path for path in installed if not os.path.exists(os.path.join(ROOT, path))]
    if absent:
        missing(f'{absent[0]} is missing: run deploy/{engine}/install')
    state_dir = str(tmp_path_factory.mktemp(f'{engine}-cluster'))
    started = cluster_command(engine, 'start', state_dir, port_base)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield shlex.split(started.stdout.strip().splitlines()[-1]), state_dir
    finally:
        cluster_command(engine, 'stop', state_dir, port_base)


@contextlib.contextmanager
def jvms_started_here():
    """Yields the set of the JVMs that this process starts while the block runs (its descendants running java)."""
    before, found = descendants([os.getpid()]), set()

    def look():
        found.update(pid for pid in descendants([os.getpid()]) - before
                     if command_line(pid).split(' ', 1)[0].endswith('java'))
    with every_interval(look, 0.2):
        yield found


def assert_same(direct, other, path='', tolerance=1e-5):
    """Equal, apart from RUN_FIELDS and floats within `tolerance`."""
    if isinstance(direct, dict):
        assert isinstance(other, dict) and set(direct) - RUN_FIELDS == set(other) - RUN_FIELDS, path
        for key in set(direct) - RUN_FIELDS:
            assert_same(direct[key], other[key], f'{path}.{key}', tolerance)
    elif isinstance(direct, list):
        assert isinstance(other, list) and len(direct) == len(other), path
        for i, (a, b) in enumerate(zip(direct, other)):
            assert_same(a, b, f'{path}[{i}]', tolerance)
    elif isinstance(direct, float) and isinstance(other, float):
        assert math.isclose(direct, other, abs_tol=tolerance), (path, direct, other)
    else:
        assert direct == other, (path, direct, other)


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


def cluster_pids(state_dir):
    pids = []
    for pid_file in glob.glob(os.path.join(state_dir, 'pid', '*.pid')):
        with open(pid_file, encoding='ascii') as f:
            pids += [int(pid) for pid in f.read().split()]
    return descendants(pids)


def _harnesses(state_dir):
    return {pid for pid in cluster_pids(state_dir) if 'SdkHarness' in command_line(pid)}


@contextlib.contextmanager
def harnesses_while_running(state_dir):
    """Yields {'started': the pids of the SDK harnesses the worker pool starts while the block runs, 'served': the
    pids of the processes whose control endpoints they connect to (a TaskManager, an executor)}."""
    earlier, found = _harnesses(state_dir), {'started': set(), 'served': set()}

    def look():
        running = _harnesses(state_dir) - earlier
        found['started'] |= running
        endpoints = {int(port) for pid in running for port in re.findall(r"SdkHarness\('localhost:(\d+)'",
                                                                           command_line(pid))}
        found['served'] |= {pid for _, port, pid in listening_sockets(cluster_pids(state_dir)) if port in endpoints}
    with every_interval(look):
        yield found


def current_run(state_dir):
    with open(os.path.join(state_dir, 'CURRENT'), encoding='ascii') as f:
        return os.path.join(state_dir, 'runs', f.read().strip())


def loopback_only(state_dir):
    """The socket watch (tests/sockets.py) over the cluster's processes (its job server among them) and this
    process's children while the block runs."""
    return sockets.loopback_only(lambda: cluster_pids(state_dir) | sockets.this_process_tree(), 'the cluster')
