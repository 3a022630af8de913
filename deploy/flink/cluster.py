"""A local standalone Flink cluster for the Beam jobs: start, stop, status.

    .venv/bin/python deploy/flink/cluster.py start     (after deploy/flink/install)

Three kinds of process, each on its own, as on a real cluster:
  - a Flink JobManager (standalone session) and a TaskManager with 2 task slots, from .flink/flink-1.19.0;
  - a Beam worker pool from the project's venv (worker_pool.py), in its own working directory and TMPDIR, so
    that nothing relative to the launcher's folder works by accident; Flink asks it for SDK harnesses (Beam's
    EXTERNAL environment) and every DoFn runs there, never in the launching process.
Every port listens on 127.0.0.1 only. `start` is idempotent: what already runs is kept. Its last line is
exactly the pipeline options to add to any job; `status` prints them again.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FLINK_ROOT = os.path.abspath(os.environ.get('FLINK_ROOT', os.path.join(REPO, '.flink')))
FLINK_HOME = os.path.join(FLINK_ROOT, 'flink-1.19.0')
JOB_SERVER_JAR = os.path.join(FLINK_ROOT, 'job-server', 'beam-flink-job-server.jar')
HOST = '127.0.0.1'
SLOTS = 2
START_TIMEOUT_S = 120
IDENT = 'fashion'  # names Flink's pid and log files (FLINK_IDENT_STRING, else $USER, which may be unset)


class Cluster:
    """Where one local cluster keeps its configuration, logs and pid files, and which ports it uses."""

    def __init__(self, state_dir, port_base):
        self.state_dir = os.path.abspath(state_dir)
        self.conf_dir = os.path.join(self.state_dir, 'conf')
        self.log_dir = os.path.join(self.state_dir, 'log')
        self.pid_dir = os.path.join(self.state_dir, 'pid')
        self.worker_dir = os.path.join(self.state_dir, 'worker')
        ports = iter(range(port_base, port_base + 10))
        self.rest_port, self.rpc_port, self.blob_port, self.tm_rpc_port, self.tm_data_port = (
            next(ports) for _ in range(5))
        self.pool_port = next(ports)
        self.metrics_ports = (next(ports), next(ports))

    def options(self):
        """The pipeline options that send a job to this cluster."""
        return (f'--runner=FlinkRunner --flink_master={HOST}:{self.rest_port} '
                f'--flink_job_server_jar={JOB_SERVER_JAR} '
                f'--environment_type=EXTERNAL --environment_config={HOST}:{self.pool_port} '
                f'--parallelism={SLOTS}')

    def flink_config(self):
        """Flink's conf/config.yaml: every address and bind address 127.0.0.1, fixed ports."""
        return {
            'jobmanager.rpc.address': HOST, 'jobmanager.bind-host': HOST, 'jobmanager.rpc.port': self.rpc_port,
            'rest.address': HOST, 'rest.bind-address': HOST, 'rest.port': self.rest_port,
            'blob.server.port': self.blob_port,
            'taskmanager.host': HOST, 'taskmanager.bind-host': HOST, 'taskmanager.rpc.port': self.tm_rpc_port,
            'taskmanager.data.port': self.tm_data_port,
            'metrics.internal.query-service.port': f'{self.metrics_ports[0]}-{self.metrics_ports[1]}',
            'taskmanager.numberOfTaskSlots': SLOTS, 'parallelism.default': SLOTS,
            'jobmanager.memory.process.size': '1024m', 'taskmanager.memory.process.size': '3584m',
            # Beam's data plane to the SDK harnesses (gRPC, Netty) allocates direct buffers from the tasks'
            # off-heap budget, 0 by default: a 4x catalog's prepare failed with "Direct buffer memory" without it.
            'taskmanager.memory.task.off-heap.size': '512m',
            # A Beam job is one Flink job with a shuffle per GroupByKey: each needs its own network buffers.
            # Each blocking (batch) shuffle asks for taskmanager.network.sort-shuffle.min-buffers (512 by default,
            # 16 MiB) for as long as it lives, and a Beam job holds dozens at once.
            'taskmanager.memory.network.min': '512m', 'taskmanager.memory.network.max': '512m',
            'taskmanager.network.sort-shuffle.min-buffers': 64,
            'io.tmp.dirs': os.path.join(self.state_dir, 'tmp'),
            'env.java.opts.all': _java_17_options(),
        }

    def ports(self):
        """{what: port} of every port this cluster listens on."""
        return {'rest': self.rest_port, 'jobmanager rpc': self.rpc_port, 'blob server': self.blob_port,
                'taskmanager rpc': self.tm_rpc_port, 'taskmanager data': self.tm_data_port,
                'worker pool': self.pool_port}

    def flink_env(self):
        return dict(os.environ, FLINK_HOME=FLINK_HOME, FLINK_CONF_DIR=self.conf_dir, FLINK_LOG_DIR=self.log_dir,
                    FLINK_PID_DIR=self.pid_dir, FLINK_IDENT_STRING=IDENT)

    def daemon_pid(self, daemon):
        """The pid in Flink's pid file for 'standalonesession' or 'taskexecutor', if that process lives."""
        return _live_pid(os.path.join(self.pid_dir, f'flink-{IDENT}-{daemon}.pid'))

    def pool_pid(self):
        return _live_pid(os.path.join(self.pid_dir, 'worker-pool.pid'))


def _java_17_options():
    """The --add-opens/--add-exports options Flink needs on Java 17, from the default config.yaml that flink-dist
    ships: without them a failing task's error handling itself fails (InaccessibleObjectException) and takes
    the TaskManager down."""
    with zipfile.ZipFile(os.path.join(FLINK_HOME, 'lib', 'flink-dist-1.19.0.jar')) as dist:
        default = dist.read('config.yaml').decode('utf-8')
    return re.search(r'^\s+all: (--add-.*)$', default, re.MULTILINE).group(1)


def _live_pid(pid_file):
    try:
        with open(pid_file) as f:
            pids = [int(line) for line in f.read().split()]
    except (OSError, ValueError):
        return None
    for pid in pids:
        try:
            os.kill(pid, 0)
            return pid
        except ProcessLookupError:
            continue
    return None


def _listening(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def _overview(cluster):
    """Flink's REST /overview (task managers, slots, jobs), or None when the JobManager does not answer."""
    try:
        with urllib.request.urlopen(f'http://{HOST}:{cluster.rest_port}/overview', timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _write_config(cluster):
    for folder in (cluster.conf_dir, cluster.log_dir, cluster.pid_dir, os.path.join(cluster.state_dir, 'tmp'),
                   os.path.join(cluster.worker_dir, 'tmp')):
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(cluster.conf_dir, 'config.yaml'), 'w') as f:
        f.writelines(f'{key}: {json.dumps(value)}\n' for key, value in cluster.flink_config().items())
    with open(os.path.join(HERE, 'log4j.properties')) as src:
        text = src.read()
    for name in ('log4j.properties', 'log4j-console.properties'):
        with open(os.path.join(cluster.conf_dir, name), 'w') as f:
            f.write(text)


def _start_daemon(cluster, script, daemon):
    if cluster.daemon_pid(daemon):
        return False
    subprocess.run([os.path.join(FLINK_HOME, 'bin', script), 'start'], env=cluster.flink_env(), check=True,
                   stdout=subprocess.DEVNULL)
    return True


def _start_pool(cluster):
    """The worker pool from this venv: its own session, folder and TMPDIR; SDK harnesses it starts run `python`
    from PATH, so the venv's bin comes first."""
    if cluster.pool_pid():
        return False
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, TMPDIR=os.path.join(cluster.worker_dir, 'tmp'),
               PATH=venv_bin + os.pathsep + os.environ.get('PATH', ''), PYTHONWARNINGS='ignore',
               TF_CPP_MIN_LOG_LEVEL='3')
    env.pop('PYTHONPATH', None)
    with open(os.path.join(cluster.log_dir, 'worker-pool.log'), 'ab') as log:
        process = subprocess.Popen([sys.executable, os.path.join(HERE, 'worker_pool.py'),
                                    '--port', str(cluster.pool_port)],
                                   cwd=cluster.worker_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(cluster.pid_dir, 'worker-pool.pid'), 'w') as f:
        f.write(f'{process.pid}\n')
    return True


def _wait_until_up(cluster):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        overview = _overview(cluster)
        if overview and overview.get('slots-total', 0) >= SLOTS and _listening(cluster.pool_port):
            return
        time.sleep(1)
    sys.exit(f'the cluster did not come up in {START_TIMEOUT_S} s: see {cluster.log_dir}')


def start(cluster):
    missing = [path for path in (os.path.join(FLINK_HOME, 'bin', 'jobmanager.sh'), JOB_SERVER_JAR)
               if not os.path.exists(path)]
    if missing:
        sys.exit(f'{missing[0]} is missing: run deploy/flink/install first')
    _write_config(cluster)
    started = [name for name, fresh in (
        ('jobmanager', _start_daemon(cluster, 'jobmanager.sh', 'standalonesession')),
        ('taskmanager', _start_daemon(cluster, 'taskmanager.sh', 'taskexecutor')),
        ('worker pool', _start_pool(cluster))) if fresh]
    _wait_until_up(cluster)
    print(f'Flink cluster on {HOST}: web UI http://{HOST}:{cluster.rest_port}, {SLOTS} task slots; '
          f'started {", ".join(started) if started else "nothing (already running)"}; logs in {cluster.log_dir}')
    print(cluster.options())


def stop(cluster):
    for script, daemon in (('taskmanager.sh', 'taskexecutor'), ('jobmanager.sh', 'standalonesession')):
        if cluster.daemon_pid(daemon):
            subprocess.run([os.path.join(FLINK_HOME, 'bin', script), 'stop'], env=cluster.flink_env(),
                           stdout=subprocess.DEVNULL, check=False)
    pid = cluster.pool_pid()
    if pid:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while cluster.pool_pid() and time.monotonic() < deadline:
            time.sleep(0.2)
        if cluster.pool_pid():
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (cluster.daemon_pid('taskexecutor') or cluster.daemon_pid('standalonesession')) and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    print(f'Flink cluster on {HOST}:{cluster.rest_port} stopped')


def status(cluster):
    """Prints each process and port; exits 0 when the whole cluster runs, 3 when part or all of it is down."""
    overview = _overview(cluster)
    parts = {'jobmanager': cluster.daemon_pid('standalonesession'),
             'taskmanager': cluster.daemon_pid('taskexecutor'), 'worker pool': cluster.pool_pid()}
    for name, pid in parts.items():
        print(f'{name:12s} {"running, pid " + str(pid) if pid else "not running"}')
    for name, port in cluster.ports().items():
        print(f'{name:17s} {HOST}:{port} {"listening" if _listening(port) else "closed"}')
    up = all(parts.values()) and overview is not None and overview.get('slots-total', 0) >= SLOTS
    if overview:
        print(f'slots {overview["slots-available"]} free of {overview["slots-total"]}, '
              f'jobs running {overview["jobs-running"]}, finished {overview["jobs-finished"]}, '
              f'failed {overview["jobs-failed"]}')
    print(cluster.options() if up else 'cluster is not (fully) running')
    return 0 if up else 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=['start', 'stop', 'status'])
    parser.add_argument('--state-dir', default=os.path.join(FLINK_ROOT, 'cluster'),
                        help='configuration, logs, pid files and the worker pool\'s folder (default .flink/cluster)')
    parser.add_argument('--port-base', type=int, default=int(os.environ.get('FLINK_PORT_BASE', 28100)),
                        help='the cluster uses 8 ports from this one (default 28100, or $FLINK_PORT_BASE)')
    args = parser.parse_args(argv)
    cluster = Cluster(args.state_dir, args.port_base)
    return {'start': start, 'stop': stop, 'status': status}[args.command](cluster) or 0


if __name__ == '__main__':
    sys.exit(main())
