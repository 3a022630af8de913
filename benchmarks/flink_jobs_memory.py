"""Whether a Flink session cluster's memory stays bounded over many Beam jobs through its one job server (Flink
session clusters leak metaspace on repeated Beam submissions: Beam issues #25510, #32372).

    .venv/bin/python deploy/flink/cluster.py start
    .venv/bin/python benchmarks/flink_jobs_memory.py --catalog CATALOG --jobs 30 --work /tmp/flink-jobs

Runs `fashion-pipeline validate` on CATALOG (a small one: the job count matters, not its size) --jobs times in a row
on the cluster, and after each job reads each TaskManager's JVM metaspace and heap in use from Flink's REST API
(Status.JVM.Memory.Metaspace.Used, Status.JVM.Memory.Heap.Used) and the RSS of the job server and of each
TaskManager. Prints a line per job and writes WORK/flink_jobs_memory.json.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the machine's description)
import engines  # noqa: E402  (the cluster's options and processes)

METRICS = ('Status.JVM.Memory.Metaspace.Used', 'Status.JVM.Memory.Heap.Used')


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def task_manager_memory(rest):
    """{TaskManager id: {metric: MiB}} from Flink's REST API."""
    found = {}
    for manager in _get(f'http://{rest}/taskmanagers')['taskmanagers']:
        values = _get(f'http://{rest}/taskmanagers/{manager["id"]}/metrics?get={",".join(METRICS)}')
        found[manager['id']] = {v['id'].rsplit('.', 2)[-2]: round(float(v['value']) / 2 ** 20, 1) for v in values}
    return found


def rss_mib(process):
    return round(process.memory_info().rss / 2 ** 20)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--jobs', type=int, default=30)
    parser.add_argument('--work', required=True)
    parser.add_argument('--flink-state', default=os.path.join(engines.ROOT, '.flink', 'cluster'))
    args = parser.parse_args(argv)
    status = subprocess.run([sys.executable, os.path.join(engines.ROOT, 'deploy', 'flink', 'cluster.py'), 'status',
                             '--state-dir', args.flink_state], capture_output=True, text=True, check=False)
    if status.returncode:
        sys.exit('start the cluster first: .venv/bin/python deploy/flink/cluster.py start')
    options = shlex.split(status.stdout.strip().splitlines()[-1])
    rest = next(o.split('=', 1)[1] for o in options if o.startswith('--flink_master='))
    processes = engines.cluster_processes('flink', args.flink_state)
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for job in range(1, args.jobs + 1):
        start = time.perf_counter()
        subprocess.run([engines.FASHION, 'validate', '--catalog', args.catalog, '--output',
                        os.path.join(args.work, f'validate-{job}'), *options], check=True, capture_output=True)
        row = {'job': job, 'wall_s': round(time.perf_counter() - start, 1),
               'task_managers': task_manager_memory(rest),
               'job_server_rss_mib': [rss_mib(p) for p in processes['job server']],
               'task_manager_rss_mib': [rss_mib(p) for p in processes['engine']]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(args.work, 'flink_jobs_memory.json'), 'w', encoding='utf-8') as f:
        json.dump({'machine': bench.machine(), 'catalog': args.catalog, 'jobs': rows}, f, indent=1)


if __name__ == '__main__':
    main()
