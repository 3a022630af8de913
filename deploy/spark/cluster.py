"""A local standalone Spark cluster for the Beam jobs: start, stop, status.

    .venv/bin/python deploy/spark/cluster.py start     (after deploy/spark/install)

Four kinds of process, each on its own, as on a real cluster:
  - a Spark standalone master and one worker of 2 cores, from .spark/spark-3.2.2, started with `spark-class`
    (pyspark ships no start-master.sh);
  - Beam's Spark job server, one for the cluster: each pipeline names it by --job_endpoint and starts no JVM of
    its own; it is the jobs' Spark driver (a Spark application per job), with its Spark configuration as system
    properties: driver addresses on 127.0.0.1, its web UI off, and the executors' class path;
  - a Beam worker pool (deploy/worker_pool.py, started as deploy/local_processes.py says): the executors ask it
    for SDK harnesses and every DoFn runs there.
An executor runs Beam's Fn API servers for its SDK harness, and Spark adds the jars a driver ships
to an executor's class loader in no set order, so the loopback patch (deploy/flink/loopback.patch) lost to
Beam's own ServerFactory there and each of those servers listened on all interfaces; first on the executors'
class path (spark.executor.extraClassPath: these files, at the same place on every worker), it wins. The
executors get Spark's Java 17 options from the worker's environment (JDK_JAVA_OPTIONS, which the executors it
starts inherit). The master's and the worker's web UIs bind SPARK_LOCAL_IP, 127.0.0.1. Every port listens on
127.0.0.1 only. `start` is idempotent: what already runs is kept. Its last line is exactly the pipeline options
to add to any job; `status` prints them again.
"""
import json
import os
import shlex
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import local_processes  # noqa: E402  (deploy/)
from local_processes import HOST, POOL, listening, pid_of, start_pool  # noqa: E402

SPARK_VERSION = '3.2.2'  # what Beam 2.62's Spark runner declares (deploy/spark/pom.xml)
SPARK_ROOT = os.path.abspath(os.environ.get('SPARK_ROOT', os.path.join(REPO, '.spark')))
SPARK_HOME = os.path.join(SPARK_ROOT, f'spark-{SPARK_VERSION}')
JOB_SERVER_JAR = os.path.join(SPARK_ROOT, 'job-server', 'beam-spark-job-server.jar')
# The executors' class path starts with the job server's: the loopback patch first, then Beam (the docstring says why).
EXECUTOR_CLASS_PATH = os.pathsep.join([
    os.path.join(SPARK_ROOT, 'job-server', 'loopback', 'beam-fn-server-loopback.jar'),
    os.path.join(SPARK_ROOT, 'job-server', 'lib', '*')])
CORES = 2
WORKER_MEMORY = '4g'
EXECUTOR_MEMORY = '3g'
PORTS = 7
JOB_SERVER = 'job-server'
JOB_SERVER_HEAP = '1g'  # the driver of every job
JOB_HISTORY = 10  # finished jobs the job server keeps (its default)
# Without it an executor closes its SDK harness after every task and starts a new one, which imports TensorFlow
# again: a 600-item score took 93 s, 33 s with it.
ENVIRONMENT_CACHE_MS = 60_000
START_TIMEOUT_S = 120
# What Spark 3.2 reaches into on Java 17 (Spark 3.3's launcher adds the same); the job server's jar manifest
# opens them for the driver, JDK_JAVA_OPTIONS for the master, the worker and its executors.
JAVA_17_OPENS = ' '.join(f'--add-opens=java.base/{package}=ALL-UNNAMED' for package in (
    'java.lang', 'java.lang.invoke', 'java.lang.reflect', 'java.io', 'java.net', 'java.nio', 'java.util',
    'java.util.concurrent', 'java.util.concurrent.atomic', 'sun.nio.ch', 'sun.nio.cs', 'sun.security.action',
    'sun.util.calendar'))
MASTER, WORKER = 'spark-master', 'spark-worker'


class Cluster:
    """Where one local cluster keeps its logs, pid files and work folders, and which ports it uses."""

    def __init__(self, state_dir, port_base):
        self.state_dir = os.path.abspath(state_dir)
        self.log_dir = os.path.join(self.state_dir, 'log')
        self.pid_dir = os.path.join(self.state_dir, 'pid')
        self.work_dir = os.path.join(self.state_dir, 'work')  # the executors' folders
        self.worker_dir = os.path.join(self.state_dir, 'worker')  # the worker pool's
        self.master_port, self.master_ui_port = port_base, port_base + 1
        self.worker_port, self.worker_ui_port = port_base + 2, port_base + 3
        self.pool_port = port_base + 4
        self.job_port, self.artifact_port = port_base + 5, port_base + 6

    def master_url(self):
        return f'spark://{HOST}:{self.master_port}'

    def options(self):
        """The pipeline options that send a job to this cluster, through its job server."""
        return shlex.join([
            '--runner=SparkRunner', f'--job_endpoint={HOST}:{self.job_port}',
            f'--artifact_endpoint={HOST}:{self.artifact_port}',
            '--environment_type=EXTERNAL', f'--environment_config={HOST}:{self.pool_port}',
            f'--environment_cache_millis={ENVIRONMENT_CACHE_MS}'])

    def job_server_command(self):
        """Beam's Spark job server for this cluster, the jobs' driver: loopback only, no expansion service, each
        job's artifacts removed when it ends."""
        driver = {'spark.driver.host': HOST, 'spark.driver.bindAddress': HOST, 'spark.ui.enabled': 'false',
                  'spark.executor.memory': EXECUTOR_MEMORY, 'spark.executor.extraClassPath': EXECUTOR_CLASS_PATH}
        return ['java', f'-Xmx{JOB_SERVER_HEAP}', *(f'-D{key}={value}' for key, value in driver.items()), '-jar',
                JOB_SERVER_JAR, '--spark-master-url', self.master_url(), '--job-host', HOST, '--job-port',
                str(self.job_port), '--artifact-port', str(self.artifact_port), '--expansion-port', '-1',
                '--artifacts-dir', os.path.join(self.state_dir, 'artifacts'), '--clean-artifacts-per-job', 'true',
                '--history-size', str(JOB_HISTORY)]

    def ports(self):
        return {'master': self.master_port, 'master web UI': self.master_ui_port, 'worker': self.worker_port,
                'worker web UI': self.worker_ui_port, 'job service': self.job_port,
                'artifact service': self.artifact_port, 'worker pool': self.pool_port}

    def processes(self):
        """{name: pid or None} of every process of the cluster."""
        return {'master': pid_of(MASTER, self.pid_dir), 'worker': pid_of(WORKER, self.pid_dir),
                'job server': pid_of(JOB_SERVER, self.pid_dir), 'worker pool': pid_of(POOL, self.pid_dir)}

    def spark_env(self):
        return dict(os.environ, SPARK_HOME=SPARK_HOME, SPARK_LOCAL_IP=HOST, SPARK_LOG_DIR=self.log_dir,
                    SPARK_CONF_DIR=os.path.join(self.state_dir, 'conf'), SPARK_NO_DAEMONIZE='1',
                    JDK_JAVA_OPTIONS=JAVA_17_OPENS)


def _spark_class(*arguments):
    return [os.path.join(SPARK_HOME, 'bin', 'spark-class'), *arguments]


def _master_state(cluster):
    """The master's JSON state (workers, cores, applications), or None when it does not answer."""
    try:
        with urllib.request.urlopen(f'http://{HOST}:{cluster.master_ui_port}/json/', timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _alive_cores(state):
    return sum(worker['cores'] for worker in state.get('workers', []) if worker.get('state') == 'ALIVE')


def _up(cluster):
    state = _master_state(cluster)
    return (bool(state) and _alive_cores(state) >= CORES and listening(cluster.pool_port)
            and listening(cluster.job_port) and listening(cluster.artifact_port))


def start(cluster):
    missing = [path for path in (os.path.join(SPARK_HOME, 'bin', 'spark-class'), JOB_SERVER_JAR)
               if not os.path.exists(path)]
    if missing:
        sys.exit(f'{missing[0]} is missing: run deploy/spark/install first')
    local_processes.check_ports_free(cluster.processes(), cluster.ports())
    for folder in (cluster.log_dir, cluster.pid_dir, cluster.work_dir, os.path.join(cluster.state_dir, 'conf')):
        os.makedirs(folder, exist_ok=True)
    env = cluster.spark_env()
    master = _spark_class('org.apache.spark.deploy.master.Master', '--host', HOST, '--port', str(cluster.master_port),
                          '--webui-port', str(cluster.master_ui_port))
    worker = _spark_class('org.apache.spark.deploy.worker.Worker', cluster.master_url(), '--host', HOST,
                          '--port', str(cluster.worker_port), '--webui-port', str(cluster.worker_ui_port),
                          '--cores', str(CORES), '--memory', WORKER_MEMORY, '--work-dir', cluster.work_dir)
    started = [name for name, fresh in (
        ('master', local_processes.start(MASTER, master, env, cluster.pid_dir, cluster.log_dir)),
        ('worker', local_processes.start(WORKER, worker, env, cluster.pid_dir, cluster.log_dir)),
        ('job server', local_processes.start(JOB_SERVER, cluster.job_server_command(), dict(os.environ),
                                             cluster.pid_dir, cluster.log_dir)),
        ('worker pool', start_pool(cluster.pool_port, cluster.pid_dir, cluster.log_dir, cluster.worker_dir)))
        if fresh]
    local_processes.wait_until(lambda: _up(cluster), cluster.log_dir, START_TIMEOUT_S)
    print(f'Spark {SPARK_VERSION} cluster on {HOST}: master {cluster.master_url()}, web UI '
          f'http://{HOST}:{cluster.master_ui_port}, one worker of {CORES} cores; started '
          f'{", ".join(started) if started else "nothing (already running)"}; logs in {cluster.log_dir}')
    print(cluster.options())


def stop(cluster):
    for name in (JOB_SERVER, WORKER, MASTER, POOL):
        local_processes.stop(name, cluster.pid_dir)
    print(f'Spark cluster on {cluster.master_url()} stopped')


def status(cluster):
    """Prints each process and port; exits 0 when the whole cluster runs, 3 when part or all of it is down."""
    state = _master_state(cluster)
    running = local_processes.report(cluster.processes(), cluster.ports())
    up = running and state is not None and _alive_cores(state) >= CORES
    if state:
        print(f'cores {state.get("coresused", 0)} used of {state.get("cores", 0)}, applications running '
              f'{len(state.get("activeapps", []))}, completed {len(state.get("completedapps", []))}')
    print(cluster.options() if up else 'cluster is not (fully) running')
    return 0 if up else 3


def main(argv=None):
    return local_processes.main(argv, __doc__, Cluster, {'start': start, 'stop': stop, 'status': status},
                                state_dir=os.path.join(SPARK_ROOT, 'cluster'),
                                port_base=int(os.environ.get('SPARK_PORT_BASE', 28200)), port_count=PORTS)


if __name__ == '__main__':
    sys.exit(main())
