"""The nightly at scale (BENCHMARKS.md, "A million items a night"): a first night (every item scored) and a quiet
night (nothing changed) on a catalog that benchmarks/scale.py built, on one runner, with what each costs.

    .venv/bin/python benchmarks/scale_nightly.py --catalog /work/scale/44446 --model EXPORT --runner direct \
        --work /work/bench-scale

Per night: the wall time and the nightly's own stage times (summary.json's stage_seconds: validate, score), items
scored and images read, images/s of the score stage, peak RSS, CPU seconds and GiB-seconds of memory per kind of
process (engines.measure: the launcher's tree, and a cluster's worker pool and engine), vCPU-seconds per 1,000
items, the state folder's disk, and on Flink the bytes its jobs' operators wrote to each other per item (a
shuffle's volume). The first night starts from an empty state folder; the quiet night runs the same catalog
again. Results go
into WORK/scale_nightly.json under "<items> <runner> <night>" (others kept), and a markdown table is printed.
Each night's output is in WORK/<items>-<runner>-<night>.log.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the machine's description)
import engines  # noqa: E402  (the runners, their options and the process measurements)


def _disk(path):
    return int(subprocess.run(['du', '-sb', path], capture_output=True, text=True, check=True).stdout.split()[0])


def _items(catalog_dir):
    with open(os.path.join(catalog_dir, 'styles.csv'), 'rb') as f:
        return sum(1 for _ in f) - 1


def flink_bytes(options, since_ms):
    """Bytes written between the operators of the Flink jobs that started after `since_ms` (their vertices'
    write-bytes, summed: what a shuffle service would carry), and how many jobs."""
    import urllib.request  # pylint: disable=import-outside-toplevel
    rest = next(o.split('=', 1)[1] for o in options if o.startswith('--flink_master='))

    def get(path):
        with urllib.request.urlopen(f'http://{rest}{path}', timeout=10) as response:
            return json.load(response)
    jobs = [j['jid'] for j in get('/jobs/overview')['jobs'] if j['start-time'] >= since_ms]
    return sum(v['metrics']['write-bytes'] for jid in jobs for v in get(f'/jobs/{jid}')['vertices']), len(jobs)


def night(args, options, watched, name):
    """One nightly run, measured: its figures as a dict."""
    state_dir = os.path.join(args.work, f'state-{_items(args.catalog)}-{args.runner}')
    if name == 'first' and os.path.exists(state_dir):
        shutil.rmtree(state_dir)
    command = [engines.FASHION, 'nightly', '--catalog', args.catalog, '--model', args.model, '--state', state_dir,
               '--allow-unblessed', *options]
    started_ms = time.time() * 1000
    with open(os.path.join(args.work, f'{_items(args.catalog)}-{args.runner}-{name}.log'), 'w',
              encoding='utf-8') as log:
        wall, peaks = engines.measure(command, watched, log)
    shuffled = flink_bytes(options, started_ms) if args.runner == 'flink' else None
    with open(os.path.join(state_dir, 'CURRENT'), encoding='utf-8') as f:
        run_dir = os.path.join(state_dir, 'runs', f.read().strip())
    summary = engines.read_json(os.path.join(run_dir, 'summary.json'))
    items, scored = summary['rows_read'], summary['scored']
    stages = summary.get('stage_seconds', {})
    cpu, held = sum(p['cpu_s'] for p in peaks.values()), sum(p.get('gib_s', 0) for p in peaks.values())
    return dict(items=items, scored=scored, images_read=summary['counters'].get('images_read'),
                wall_s=round(wall, 1), stage_s=stages,
                score_images_per_s=round(scored / stages['score'], 1) if scored and stages.get('score') else None,
                wall_per_1000_items_s=round(1000 * wall / items, 3), cpu_s=round(cpu, 1),
                vcpu_s_per_1000_items=round(1000 * cpu / items, 2), gib_s=round(held, 1), peak_rss_mib=peaks,
                state_disk_mib=round(_disk(state_dir) / 2 ** 20, 1), run_disk_mib=round(_disk(run_dir) / 2 ** 20, 1),
                **({'shuffle_bytes_per_item': round(shuffled[0] / items), 'flink_jobs': shuffled[1]}
                   if shuffled else {}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True, help='a catalog from benchmarks/scale.py')
    parser.add_argument('--model', required=True, help='an export')
    parser.add_argument('--runner', default='direct', choices=sorted(engines.RUNNERS))
    parser.add_argument('--nights', default='first,quiet')
    parser.add_argument('--work', required=True)
    parser.add_argument('--flink-state', default=os.path.join(engines.ROOT, '.flink', 'cluster'))
    parser.add_argument('--spark-state', default=os.path.join(engines.ROOT, '.spark', 'cluster'))
    args = parser.parse_args(argv)
    args.runners = args.runner
    os.makedirs(args.work, exist_ok=True)
    [(_, runner, options, watched)] = engines.runners(args)
    saved = os.path.join(args.work, 'scale_nightly.json')
    results = engines.read_json(saved) if os.path.exists(saved) else {}
    for name in args.nights.split(','):
        figures = dict(night(args, options, watched, name), runner=runner, machine=bench.machine())
        results[f'{figures["items"]} {args.runner} {name}'] = figures
        print(name, json.dumps(figures), flush=True)
        with open(saved, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
    print(markdown(results))


def markdown(results):
    lines = ['| items | runner | night | wall | validate / score s | images/s | s per 1k items | vCPU-s per 1k items '
             '| peak RSS MiB (launcher; job server; pool; engine) | state disk MiB |', '|' + '---|' * 10]
    for key, r in sorted(results.items(), key=lambda kv: (kv[1]['items'], kv[1]['runner'], kv[0])):
        peaks = '; '.join(engines.peaks_text(r['peak_rss_mib'].get(k))
                          for k in ('launcher', 'job server', 'worker pool', 'engine'))
        lines.append(f'| {r["items"]:,} | {r["runner"]} | {key.rsplit(" ", 1)[1]} | {r["wall_s"]:.0f} s | '
                     f'{r["stage_s"].get("validate", "-")} / {r["stage_s"].get("score", "-")} | '
                     f'{r["score_images_per_s"] or "-"} | {r["wall_per_1000_items_s"]} | '
                     f'{r["vcpu_s_per_1000_items"]} | '
                     f'{peaks} | {r["state_disk_mib"]} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
