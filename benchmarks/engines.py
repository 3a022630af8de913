"""The engines' rows of BENCHMARKS.md: the score job and prepare on a bigger catalog, on the DirectRunner (in
memory, and 2 processes) and on the local Flink and Spark clusters, with the peak memory of each kind of process.

    .venv/bin/python deploy/flink/cluster.py start; .venv/bin/python deploy/spark/cluster.py start
    .venv/bin/python benchmarks/engines.py --catalog ../shared/data/fashion-product-images-small \
        --model runs/model/export --factor 4 --work /tmp/bench-engines

One run each, one after the other on the same machine: the score job on CATALOG on each runner, then prepare on
the FACTORx catalog (bench.py's replication) on each. Peak RSS is sampled every 0.2 s, for each kind of process:
the launcher (the job's command, with its child processes: the DirectRunner's workers, a portable runner's job
server, which is Spark's driver), the worker pool (its SDK harnesses) and the engine's workers (Flink's
TaskManagers; Spark's worker and its executors); each gets the peak of the sum over its processes and the peak
of its largest single process. Prints a markdown table and writes its figures to WORK/engines.json.
"""
import argparse
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the catalog replication and the machine's description)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION = os.path.join(ROOT, '.venv', 'bin', 'fashion-pipeline')
RUNNERS = {  # key: (name, options, or the engine whose deploy/ENGINE/cluster.py status gives them)
    'memory': ('DirectRunner in memory', []),
    'direct': ('DirectRunner multi-processing, 2 workers',
               ['--direct_running_mode=multi_processing', '--direct_num_workers=2']),
    'flink': ('Flink, 2 TaskManagers of 1 slot', 'flink'),
    'spark': ('Spark, 1 worker of 2 cores', 'spark'),
}


def _rss(processes):
    """(the sum of the processes' RSS, the largest one's), in bytes; a process that has ended counts 0."""
    sizes = []
    for p in processes:
        try:
            sizes.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def _tree(process):
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def _cluster_script(engine):
    return os.path.join(ROOT, 'deploy', engine, 'cluster.py')


def cluster_processes(engine, state_dir):
    """{'worker pool': [Process], 'engine': [Process, ...], 'job server': [Process]} of a running local cluster: the
    processes that do the work besides the pool, Flink's TaskManagers or Spark's worker (its executors are its
    children), and the cluster's Beam job server (a Spark job's driver)."""
    spec = importlib.util.spec_from_file_location(f'{engine}_cluster', _cluster_script(engine))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pids = module.Cluster(state_dir, port_base=0).processes()  # only its pid files are read
    return {'worker pool': [psutil.Process(pids['worker pool'])],
            'engine': [psutil.Process(pid) for name, pid in pids.items()
                       if name.startswith('taskmanager') or name == 'worker'],
            'job server': [psutil.Process(pids['job server'])] if pids.get('job server') else []}


def _cpu(process):
    """The process's own user + system CPU seconds (not its waited-for children's: they are sampled as processes
    of the tree themselves), or None once it has ended."""
    try:
        times = process.cpu_times()
        return times.user + times.system
    except psutil.Error:
        return None


def measure(command, watched, log=None):
    """(wall s, {kind: {'total': peak MiB, 'process': peak MiB of its largest process, 'processes': most seen,
    'cpu_s': CPU seconds, 'gib_s': GiB-seconds of RSS}}) of one command: the launcher's process tree and each of
    `watched` ({kind: [Process]}, with their children). CPU seconds are sampled with the memory: a process's last
    sample, less what it had used when the command started (a cluster's processes outlive jobs); a process that
    lived less than a sampling interval is missed. With `log` (an open file), the command's output goes there,
    else stderr is kept for an error's message."""
    start = time.perf_counter()
    before = {p.pid: _cpu(p) or 0.0 for roots in watched.values() for root in roots for p in _tree(root)}
    process = psutil.Popen(command, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.PIPE, cwd=ROOT)
    kinds = {'launcher': [process], **watched}
    peaks = {kind: dict(total=0, process=0, processes=0) for kind in kinds}
    used = {kind: {} for kind in kinds}  # kind -> pid -> CPU seconds at its last sample
    held = dict.fromkeys(kinds, 0.0)  # kind -> GiB-seconds of RSS
    sampled = time.perf_counter()
    while process.poll() is None:
        now = time.perf_counter()
        interval, sampled = now - sampled, now
        for kind, roots in kinds.items():
            tree = [p for root in roots for p in _tree(root)]
            total, largest = _rss(tree)
            peak = peaks[kind]
            peak.update(total=max(peak['total'], total), process=max(peak['process'], largest),
                        processes=max(peak['processes'], len(tree)))
            held[kind] += total / 2 ** 30 * interval
            for p in tree:
                seconds = _cpu(p)
                if seconds is not None:
                    used[kind][p.pid] = seconds - before.get(p.pid, 0.0)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if process.returncode:
        said = f'see {log.name}' if log else process.stderr.read().decode()
        raise RuntimeError(f'{shlex.join(command)} exited {process.returncode}: {said}')
    return wall, {kind: dict(total=round(p['total'] / 2 ** 20), process=round(p['process'] / 2 ** 20),
                             processes=p['processes'], cpu_s=round(sum(used[kind].values()), 1),
                             gib_s=round(held[kind], 1))
                  for kind, p in peaks.items()}


def read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--model', required=True, help='an export for the score job')
    parser.add_argument('--factor', type=int, default=4, help='prepare runs on this many copies of the catalog')
    parser.add_argument('--work', required=True)
    parser.add_argument('--flink-state', default=os.path.join(ROOT, '.flink', 'cluster'))
    parser.add_argument('--spark-state', default=os.path.join(ROOT, '.spark', 'cluster'))
    parser.add_argument('--jobs', default='score,prepare',
                        help='which to measure (the others keep WORK/engines.json\'s)')
    parser.add_argument('--runners', default=','.join(RUNNERS), help='on which runners (the same)')
    args = parser.parse_args(argv)
    chosen = runners(args)
    os.makedirs(args.work, exist_ok=True)
    saved = os.path.join(args.work, 'engines.json')
    results = read_json(saved) if os.path.exists(saved) else {}
    results.update(machine=bench.machine(), catalog=os.path.abspath(args.catalog), model=args.model,
                   factor=args.factor)
    jobs = args.jobs.split(',')
    for key, runner, options, watched in chosen if 'score' in jobs else ():
        output = os.path.join(args.work, 'scores-' + key)
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peaks = measure([FASHION, 'score', '--catalog', args.catalog, '--model', args.model,
                               '--output', output, *options], watched)
        summary = read_json(os.path.join(output, 'summary.json'))
        results.setdefault('score', {})[runner] = dict(wall_s=round(wall, 1), scored=summary['scored'],
                                                       images_per_s=round(summary['scored'] / wall, 1),
                                                       summary_images_per_s=summary['images_per_second'],
                                                       peak_rss_mib=peaks)
        print(runner, results['score'][runner], flush=True)
    sized = bench._replicate(args.catalog, args.factor, args.work)
    for key, runner, options, watched in chosen if 'prepare' in jobs else ():
        output = os.path.join(args.work, f'prepared-{args.factor}x-' + key)
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peaks = measure([FASHION, 'prepare', '--catalog', sized, '--output', output, *options], watched)
        kept = read_json(os.path.join(output, 'manifest.json'))['rows_kept']
        results.setdefault('prepare', {})[runner] = dict(rows=bench._rows(sized), kept=kept, wall_s=round(wall, 1),
                                                         rows_per_s=round(bench._rows(sized) / wall, 1),
                                                         peak_rss_mib=peaks)
        print(runner, results['prepare'][runner], flush=True)
    with open(saved, 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1)
    print(markdown(results))


def runners(args):
    """[(key, name, options, {kind: [Process]} to watch besides the launcher)] of the runners asked for."""
    found = []
    for key in args.runners.split(','):
        name, options = RUNNERS[key]
        watched = {}
        if isinstance(options, str):
            engine, state = options, getattr(args, f'{options}_state')
            status = subprocess.run([sys.executable, _cluster_script(engine), 'status', '--state-dir', state],
                                    capture_output=True, text=True, check=False)
            if status.returncode:
                sys.exit(f'start the cluster first: {sys.executable} {_cluster_script(engine)} start')
            options = shlex.split(status.stdout.strip().splitlines()[-1])
            watched = cluster_processes(engine, state)
        found.append((key, name, options, watched))
    return found


def peaks_text(peak):
    """'total (largest process × n)' MiB of one kind of process, or '-' where the runner has none."""
    if not peak or not peak['processes']:
        return '-'
    if peak['processes'] == 1:
        return str(peak['total'])
    return f'{peak["total"]} ({peak["process"]} × {peak["processes"]})'


def markdown(r):
    m = r['machine']
    lines = [f'{m["date"]}, {m["cores"]} cores ({m["cpu"]}), {platform.python_version()}; one run each, one after '
             'the other. Peak RSS in MiB: the sum over a kind\'s processes (its largest process × how many).', '',
             '| job | runner | wall s | items/s | launcher | worker pool (SDK harnesses) | engine\'s workers |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for job, rate in (('score', 'images_per_s'), ('prepare', 'rows_per_s')):
        for runner, f in r.get(job, {}).items():
            peaks = f['peak_rss_mib']
            lines.append(f'| {job} | {runner} | {f["wall_s"]} | {f.get(rate, "-")} | {peaks_text(peaks["launcher"])} | '
                         f'{peaks_text(peaks.get("worker pool"))} | {peaks_text(peaks.get("engine"))} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
