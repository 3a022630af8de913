"""The Flink rows of BENCHMARKS.md: the score job on the local Flink cluster against the DirectRunner, and
prepare on a bigger catalog, with the peak memory of each kind of process.

    .venv/bin/python deploy/flink/cluster.py start
    .venv/bin/python benchmarks/flink.py --catalog ../shared/data/fashion-product-images-small \
        --model runs/noisy-5/model/export --factor 4 --work /tmp/bench-flink

One run each, one after the other on the same machine: the score job on CATALOG with the DirectRunner in
multi-processing mode (2 workers) and on Flink (parallelism 2); then prepare on the FACTORx catalog (bench.py's
replication) on both. Peak RSS is sampled every 0.2 s and summed over a process and its children: the launcher
(the job's command, with the job server it starts on Flink), the worker pool (every SDK harness) and Flink's
TaskManager. Prints a markdown table and writes its figures to WORK/flink.json.
"""
import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'deploy', 'flink'))
import bench  # noqa: E402  (the catalog replication and the machine's description)
import cluster  # noqa: E402  (deploy/flink/cluster.py: where the local cluster keeps its pid files)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = os.path.join(ROOT, 'deploy', 'flink', 'cluster.py')
FASHION = os.path.join(ROOT, '.venv', 'bin', 'fashion-pipeline')
DIRECT = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']


def _tree_rss(process):
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _cluster_processes(state_dir):
    """{'worker pool': Process, 'taskmanager': Process} of a running local cluster."""
    local = cluster.Cluster(state_dir, port_base=0)  # only its pid files are read
    return {'worker pool': psutil.Process(local.pool_pid()),
            'taskmanager': psutil.Process(local.daemon_pid('taskexecutor'))}


def measure(command, watched):
    """(wall s, {'launcher': peak MiB, **{name: peak MiB of watched}}) of one command."""
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    peaks = dict.fromkeys(['launcher', *watched], 0)
    while process.poll() is None:
        peaks['launcher'] = max(peaks['launcher'], _tree_rss(process))
        for name, p in watched.items():
            peaks[name] = max(peaks[name], _tree_rss(p))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if process.returncode:
        raise RuntimeError(f'{shlex.join(command)} exited {process.returncode}: {process.stderr.read().decode()}')
    return wall, {name: round(peak / 2 ** 20) for name, peak in peaks.items()}


def _read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--model', required=True, help='an export for the score job')
    parser.add_argument('--factor', type=int, default=4, help='prepare runs on this many copies of the catalog')
    parser.add_argument('--work', required=True)
    parser.add_argument('--cluster-state', default=os.path.join(ROOT, '.flink', 'cluster'))
    parser.add_argument('--jobs', default='score,prepare', help='which to measure (the others keep WORK/flink.json\'s)')
    parser.add_argument('--runners', default='direct,flink', help='on which runners (the same)')
    args = parser.parse_args(argv)
    status = subprocess.run([sys.executable, CLUSTER, 'status', '--state-dir', args.cluster_state],
                            capture_output=True, text=True, check=False)
    if status.returncode:
        sys.exit(f'start the cluster first: {sys.executable} {CLUSTER} start')
    flink = shlex.split(status.stdout.strip().splitlines()[-1])
    cluster = _cluster_processes(args.cluster_state)
    os.makedirs(args.work, exist_ok=True)
    saved = os.path.join(args.work, 'flink.json')
    results = _read_json(saved) if os.path.exists(saved) else {}
    results.update(machine=bench.machine(), catalog=os.path.abspath(args.catalog), model=args.model,
                   factor=args.factor)
    jobs = args.jobs.split(',')
    runners = [(name, options) for key, name, options in (
        ('direct', 'DirectRunner multi-processing, 2 workers', DIRECT), ('flink', 'Flink, parallelism 2', flink))
        if key in args.runners.split(',')]
    for runner, options in runners if 'score' in jobs else ():
        output = os.path.join(args.work, 'scores-' + runner.split()[0])
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peaks = measure([FASHION, 'score', '--catalog', args.catalog, '--model', args.model,
                               '--output', output, *options], cluster if options is flink else {})
        summary = _read_json(os.path.join(output, 'summary.json'))
        results.setdefault('score', {})[runner] = dict(wall_s=round(wall, 1), scored=summary['scored'],
                                                       images_per_s=round(summary['scored'] / wall, 1),
                                                       summary_images_per_s=summary['images_per_second'],
                                                       peak_rss_mib=peaks)
        print(runner, results['score'][runner], flush=True)
    sized = bench._replicate(args.catalog, args.factor, args.work)
    for runner, options in runners if 'prepare' in jobs else ():
        output = os.path.join(args.work, f'prepared-{args.factor}x-' + runner.split()[0])
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peaks = measure([FASHION, 'prepare', '--catalog', sized, '--output', output, *options],
                              cluster if options is flink else {})
        kept = _read_json(os.path.join(output, 'manifest.json'))['rows_kept']
        results.setdefault('prepare', {})[runner] = dict(rows=bench._rows(sized), kept=kept, wall_s=round(wall, 1),
                                                         peak_rss_mib=peaks)
        print(runner, results['prepare'][runner], flush=True)
    with open(saved, 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1)
    print(markdown(results))


def markdown(r):
    m = r['machine']
    lines = [f'{m["date"]}, {m["cores"]} cores ({m["cpu"]}), {platform.python_version()}; one run each, one after '
             'the other.', '',
             '| job | runner | wall s | images/s | peak RSS MiB: launcher | worker pool | TaskManager |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for job in ('score', 'prepare'):
        for runner, f in r[job].items():
            peaks = f['peak_rss_mib']
            rate = f['images_per_s'] if 'images_per_s' in f else f'{f["rows"]} rows'
            lines.append(f'| {job} | {runner} | {f["wall_s"]} | {rate} | {peaks["launcher"]} | '
                         f'{peaks.get("worker pool", "in the launcher")} | {peaks.get("taskmanager", "-")} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
