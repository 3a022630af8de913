"""A local standalone Flink cluster for the Beam jobs: start, stop, status.

    .venv/bin/python deploy/flink/cluster.py start     (after deploy/flink/install)

Four kinds of process, each on its own, as on a real cluster:
  - a Flink JobManager (standalone session) and two TaskManagers of one task slot each, from .flink/flink-1.19.0;
  - Beam's Flink job server, one for the cluster (a JVM that translates each pipeline into a Flink job and stages
    its artifacts, removed when the job ends): a pipeline names it by --job_endpoint and starts no JVM of its own,
    which saved about 30 s per pipeline (the nightly runs two);
  - a Beam worker pool (deploy/worker_pool.py, started as deploy/local_processes.py says): Flink asks it for SDK
    harnesses and every DoFn runs there, never in the launching process.
Two TaskManagers of one slot, not one of two slots, keep both cores busy: a TaskManager asks the pool for one
SDK harness per job (`sdk_worker_parallelism` 1) and pins each stage's subtasks to its harnesses, so on one
TaskManager both inference subtasks can share one Python process; Flink never puts two subtasks of one stage
in one slot, so with a slot per TaskManager each has a harness of its own. The alternative,
`--sdk_worker_parallelism=2 --load_balance_bundles`, deadlocks a batch job: every task that waits for its
input holds one of the two harness leases (DefaultJobBundleFactory's semaphore), and the tasks that would feed
them wait for a lease.
Every port listens on 127.0.0.1 only. `start` is idempotent: what already runs is kept. Its last line is
exactly the pipeline options to add to any job; `status` prints them again.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import local_processes  # noqa: E402  (deploy/)
from local_processes import HOST, POOL, listening, live_pid, pid_of, start_pool  # noqa: E402
FLINK_ROOT = os.path.abspath(os.environ.get('FLINK_ROOT', os.path.join(REPO, '.flink')))
FLINK_HOME = os.path.join(FLINK_ROOT, 'flink-1.19.0')
JOB_SERVER_JAR = os.path.join(FLINK_ROOT, 'job-server', 'beam-flink-job-server.jar')
TASK_MANAGERS = 2  # of one slot each (the module docstring says why)
SLOTS = TASK_MANAGERS
PORTS = 13
JOB_SERVER = 'job-server'
JOB_SERVER_HEAP = '768m'
JOB_HISTORY = 10  # finished jobs the job server keeps (its default): its memory does not grow with the jobs run
START_TIMEOUT_S = 120
IDENT = 'fashion'  # names Flink's pid and log files (FLINK_IDENT_STRING, else $USER, which may be unset)
DAEMONS = {'jobmanager': 'standalonesession', 'taskmanager': 'taskexecutor'}


class Cluster:
    """Where one local cluster keeps its configuration, logs and pid files, and which ports it uses."""

    def __init__(self, state_dir, port_base):
        self.state_dir = os.path.abspath(state_dir)
        self.log_dir = os.path.join(self.state_dir, 'log')
        self.pid_dir = os.path.join(self.state_dir, 'pid')
        self.worker_dir = os.path.join(self.state_dir, 'worker')
        self.rest_port, self.rpc_port, self.blob_port = port_base, port_base + 1, port_base + 2
        self.pool_port = port_base + 5
        self.metrics_ports = (port_base + 6, port_base + 8)  # a range: the JobManager and each TaskManager take one
        self.task_manager_ports = [(port_base + 3, port_base + 4), (port_base + 9, port_base + 10)]  # (rpc, data)
        self.job_port, self.artifact_port = port_base + 11, port_base + 12

    def conf_dir(self, task_manager=None):
        """Flink's configuration folder of the JobManager (None) or of TaskManager 1 or 2: each TaskManager has
        its own ports, so its own config.yaml."""
        return os.path.join(self.state_dir, 'conf' if task_manager in (None, 1) else f'conf-taskmanager-{task_manager}')

    def ident(self, task_manager=None):
        return IDENT if task_manager in (None, 1) else f'{IDENT}-{task_manager}'

    def options(self):
        """The pipeline options that send a job to this cluster, through its job server."""
        return (f'--runner=FlinkRunner --flink_master={HOST}:{self.rest_port} '
                f'--job_endpoint={HOST}:{self.job_port} --artifact_endpoint={HOST}:{self.artifact_port} '
                f'--environment_type=EXTERNAL --environment_config={HOST}:{self.pool_port} '
                f'--parallelism={SLOTS}')

    def job_server_command(self):
        """Beam's Flink job server for this cluster: loopback only (the patched ServerFactory first on its class
        path), no expansion service, each job's artifacts removed when it ends."""
        return ['java', f'-Xmx{JOB_SERVER_HEAP}', '-jar', JOB_SERVER_JAR, '--flink-master', f'{HOST}:{self.rest_port}',
                '--job-host', HOST, '--job-port', str(self.job_port), '--artifact-port', str(self.artifact_port),
                '--expansion-port', '-1', '--artifacts-dir', os.path.join(self.state_dir, 'artifacts'),
                '--clean-artifacts-per-job', 'true', '--history-size', str(JOB_HISTORY)]

    def flink_config(self, task_manager=1):
        """Flink's conf/config.yaml: every address and bind address 127.0.0.1, fixed ports."""
        tm_rpc_port, tm_data_port = self.task_manager_ports[task_manager - 1]
        return {
            'jobmanager.rpc.address': HOST, 'jobmanager.bind-host': HOST, 'jobmanager.rpc.port': self.rpc_port,
            'rest.address': HOST, 'rest.bind-address': HOST, 'rest.port': self.rest_port,
            'blob.server.port': self.blob_port,
            'taskmanager.host': HOST, 'taskmanager.bind-host': HOST, 'taskmanager.rpc.port': tm_rpc_port,
            'taskmanager.data.port': tm_data_port,
            'metrics.internal.query-service.port': f'{self.metrics_ports[0]}-{self.metrics_ports[1]}',
            'taskmanager.numberOfTaskSlots': SLOTS // TASK_MANAGERS, 'parallelism.default': SLOTS,
            'jobmanager.memory.process.size': '1024m', 'taskmanager.memory.process.size': '3072m',
            'taskmanager.memory.managed.size': '512m',  # Beam's batch jobs use none; Flink's default is 40%
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
        ports = {'rest': self.rest_port, 'jobmanager rpc': self.rpc_port, 'blob server': self.blob_port}
        for number, (rpc, data) in enumerate(self.task_manager_ports, 1):
            ports.update({f'taskmanager {number} rpc': rpc, f'taskmanager {number} data': data})
        return {**ports, 'job service': self.job_port, 'artifact service': self.artifact_port,
                'worker pool': self.pool_port}

    def flink_env(self, task_manager=None):
        return dict(os.environ, FLINK_HOME=FLINK_HOME, FLINK_CONF_DIR=self.conf_dir(task_manager),
                    FLINK_LOG_DIR=self.log_dir, FLINK_PID_DIR=self.pid_dir, FLINK_IDENT_STRING=self.ident(task_manager))

    def daemon_pid(self, daemon, task_manager=None):
        """The pid in Flink's pid file of the 'jobmanager' or of 'taskmanager' 1 or 2, if that process lives."""
        return live_pid(os.path.join(self.pid_dir, f'flink-{self.ident(task_manager)}-{DAEMONS[daemon]}.pid'))

    def processes(self):
        """{name: pid or None} of every process of the cluster."""
        return {'jobmanager': self.daemon_pid('jobmanager'),
                **{f'taskmanager {n}': self.daemon_pid('taskmanager', n) for n in range(1, TASK_MANAGERS + 1)},
                'job server': pid_of(JOB_SERVER, self.pid_dir), 'worker pool': pid_of(POOL, self.pid_dir)}


def _java_17_options():
    """The --add-opens/--add-exports options Flink needs on Java 17, from the default config.yaml that flink-dist
    ships: without them a failing task's error handling itself fails (InaccessibleObjectException) and takes
    the TaskManager down."""
    with zipfile.ZipFile(os.path.join(FLINK_HOME, 'lib', 'flink-dist-1.19.0.jar')) as dist:
        default = dist.read('config.yaml').decode('utf-8')
    return re.search(r'^\s+all: (--add-.*)$', default, re.MULTILINE).group(1)


def _overview(cluster):
    """Flink's REST /overview (task managers, slots, jobs), or None when the JobManager does not answer."""
    try:
        with urllib.request.urlopen(f'http://{HOST}:{cluster.rest_port}/overview', timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _write_config(cluster):
    for folder in (cluster.log_dir, cluster.pid_dir, os.path.join(cluster.state_dir, 'tmp')):
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(HERE, 'log4j.properties')) as src:
        text = src.read()
    for task_manager in range(1, TASK_MANAGERS + 1):
        conf_dir = cluster.conf_dir(task_manager)
        os.makedirs(conf_dir, exist_ok=True)
        with open(os.path.join(conf_dir, 'config.yaml'), 'w') as f:
            f.writelines(f'{key}: {json.dumps(value)}\n' for key, value in cluster.flink_config(task_manager).items())
        for name in ('log4j.properties', 'log4j-console.properties'):
            with open(os.path.join(conf_dir, name), 'w') as f:
                f.write(text)


def _script(daemon):
    return os.path.join(FLINK_HOME, 'bin', f'{daemon}.sh')


def _start_daemon(cluster, daemon, task_manager=None):
    if cluster.daemon_pid(daemon, task_manager):
        return False
    subprocess.run([_script(daemon), 'start'], env=cluster.flink_env(task_manager), check=True,
                   stdout=subprocess.DEVNULL)
    return True


def _up(cluster):
    overview = _overview(cluster)
    return (bool(overview) and overview.get('slots-total', 0) >= SLOTS and listening(cluster.pool_port)
            and listening(cluster.job_port) and listening(cluster.artifact_port))


def start(cluster):
    missing = [path for path in (os.path.join(FLINK_HOME, 'bin', 'jobmanager.sh'), JOB_SERVER_JAR)
               if not os.path.exists(path)]
    if missing:
        sys.exit(f'{missing[0]} is missing: run deploy/flink/install first')
    local_processes.check_ports_free(cluster.processes(), cluster.ports())
    _write_config(cluster)
    started = [name for name, fresh in (
        ('jobmanager', _start_daemon(cluster, 'jobmanager')),
        *((f'taskmanager {n}', _start_daemon(cluster, 'taskmanager', n)) for n in range(1, TASK_MANAGERS + 1)),
        ('job server', local_processes.start(JOB_SERVER, cluster.job_server_command(), dict(os.environ),
                                             cluster.pid_dir, cluster.log_dir)),
        ('worker pool', start_pool(cluster.pool_port, cluster.pid_dir, cluster.log_dir, cluster.worker_dir)))
        if fresh]
    local_processes.wait_until(lambda: _up(cluster), cluster.log_dir, START_TIMEOUT_S)
    print(f'Flink cluster on {HOST}: web UI http://{HOST}:{cluster.rest_port}, {TASK_MANAGERS} TaskManagers of '
          f'{SLOTS // TASK_MANAGERS} task slot; '
          f'started {", ".join(started) if started else "nothing (already running)"}; logs in {cluster.log_dir}')
    print(cluster.options())


def stop(cluster):
    for daemon, task_manager in [*(('taskmanager', n) for n in range(1, TASK_MANAGERS + 1)), ('jobmanager', None)]:
        if cluster.daemon_pid(daemon, task_manager):
            subprocess.run([_script(daemon), 'stop'], env=cluster.flink_env(task_manager),
                           stdout=subprocess.DEVNULL, check=False)
    local_processes.stop(JOB_SERVER, cluster.pid_dir)
    local_processes.stop(POOL, cluster.pid_dir)
    deadline = time.monotonic() + 30
    while any(cluster.processes().values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f'Flink cluster on {HOST}:{cluster.rest_port} stopped')


def status(cluster):
    """Prints each process and port; exits 0 when the whole cluster runs, 3 when part or all of it is down."""
    overview = _overview(cluster)
    running = local_processes.report(cluster.processes(), cluster.ports())
    up = running and overview is not None and overview.get('slots-total', 0) >= SLOTS
    if overview:
        print(f'slots {overview["slots-available"]} free of {overview["slots-total"]}, '
              f'jobs running {overview["jobs-running"]}, finished {overview["jobs-finished"]}, '
              f'failed {overview["jobs-failed"]}')
    print(cluster.options() if up else 'cluster is not (fully) running')
    return 0 if up else 3


def main(argv=None):
    return local_processes.main(argv, __doc__, Cluster, {'start': start, 'stop': stop, 'status': status},
                                state_dir=os.path.join(FLINK_ROOT, 'cluster'),
                                port_base=int(os.environ.get('FLINK_PORT_BASE', 28100)), port_count=PORTS)


if __name__ == '__main__':
    sys.exit(main())
