"""What the local clusters (deploy/flink/cluster.py, deploy/spark/cluster.py) share: a process of their own in its
session with a pid file and a log, a check that a port on 127.0.0.1 answers, and Beam's worker pool.

The worker pool (worker_pool.py) runs from the project's venv in its own working directory and TMPDIR, so that
nothing relative to the launcher's folder works by accident; the engine asks it for SDK harnesses (Beam's
EXTERNAL environment) and every DoFn runs there, never in the launching process."""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

HOST = '127.0.0.1'
HERE = os.path.dirname(os.path.abspath(__file__))
POOL = 'worker-pool'


def live_pid(pid_file):
    """The first pid in `pid_file` whose process lives, else None."""
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


def listening(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def start(name, command, env, pid_dir, log_dir, cwd=None):
    """Starts `command` in a session of its own, its output in LOG_DIR/NAME.log, its pid in PID_DIR/NAME.pid;
    False when it runs already."""
    if pid_of(name, pid_dir):
        return False
    with open(os.path.join(log_dir, f'{name}.log'), 'ab') as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(pid_dir, f'{name}.pid'), 'w') as f:
        f.write(f'{process.pid}\n')
    return True


def stop(name, pid_dir, grace_s=15):
    """SIGTERM to the process group of NAME, SIGKILL after `grace_s`."""
    pid = pid_of(name, pid_dir)
    if not pid:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_of(name, pid_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_of(name, pid_dir):
        os.killpg(pid, signal.SIGKILL)


def start_pool(port, pid_dir, log_dir, worker_dir):
    """The worker pool from this venv; the SDK harnesses it starts run `python` from PATH, so the venv's bin
    comes first."""
    os.makedirs(os.path.join(worker_dir, 'tmp'), exist_ok=True)
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, TMPDIR=os.path.join(worker_dir, 'tmp'),
               PATH=venv_bin + os.pathsep + os.environ.get('PATH', ''), PYTHONWARNINGS='ignore',
               TF_CPP_MIN_LOG_LEVEL='3')
    env.pop('PYTHONPATH', None)
    return start(POOL, [sys.executable, os.path.join(HERE, 'worker_pool.py'), '--port', str(port)], env, pid_dir,
                 log_dir, cwd=worker_dir)


def pid_of(name, pid_dir):
    """The pid of the process `start` started as NAME, if it lives."""
    return live_pid(os.path.join(pid_dir, f'{name}.pid'))


def wait_until(ready, log_dir, timeout_s=120):
    """Polls ready() every second; exits, pointing at the logs, when it is still false after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(1)
    sys.exit(f'the cluster did not come up in {timeout_s} s: see {log_dir}')


def check_ports_free(processes, ports):
    """Exits when none of the cluster's processes runs but one of its ports is taken: another cluster (one left by
    an interrupted run, or a developer's own) would answer in its place."""
    taken = [f'{name} {HOST}:{port}' for name, port in ports.items() if listening(port)]
    if taken and not any(processes.values()):
        sys.exit(f'{taken[0]} is in use by another process: stop it, or choose other ports (--port-base)')


def report(processes, ports):
    """Prints each process (name: pid or None) and port (name: port); whether every process runs."""
    width = max(map(len, [*processes, *ports]))
    for name, pid in processes.items():
        print(f'{name:{width}s} {"running, pid " + str(pid) if pid else "not running"}')
    for name, port in ports.items():
        print(f'{name:{width}s} {HOST}:{port} {"listening" if listening(port) else "closed"}')
    return all(processes.values())


def main(argv, doc, cluster_class, commands, state_dir, port_base, port_count):
    """The command line of a deploy/ENGINE/cluster.py: a command of `commands` on the cluster in --state-dir
    (default `state_dir`), whose ports start at --port-base (default `port_base`)."""
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    parser.add_argument('command', choices=sorted(commands))
    parser.add_argument('--state-dir', default=state_dir,
                        help=f'configuration, logs, pid files and work folders (default {state_dir})')
    parser.add_argument('--port-base', type=int, default=port_base,
                        help=f'the cluster uses {port_count} ports from this one (default {port_base})')
    args = parser.parse_args(argv)
    return commands[args.command](cluster_class(args.state_dir, args.port_base)) or 0
