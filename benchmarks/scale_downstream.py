"""What runs on a night's output at scale (BENCHMARKS.md, "A million items a night"): validate, the review page, the
Label Studio export and the audit's folds, each timed with its peak memory, on a state folder that
benchmarks/scale_nightly.py published.

    .venv/bin/python benchmarks/scale_downstream.py --catalog /work/scale/1000000 \
        --state /work/bench-scale/state-1000000-direct --work /work/bench-downstream [--parts validate,review,...]

- validate: `fashion-pipeline validate` (TFDV statistics of styles.csv) on the multi-process DirectRunner;
- review: loading the published version as the review app does (review/queue.load_published_run) and its first
  queue page (Flask's test client), in a process of its own: load seconds, page seconds, peak RSS;
- label_studio: `review --export-label-studio --label-studio-image-paths` (the queue as tasks);
- folds: the audit's folds (rules/folds.assign, 5 folds) over the published items' names and content hashes:
  seconds, the largest group and the largest fold's share.
Results go to WORK/scale_downstream.json under "<items> <part>" (others kept) and are printed.
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bench  # noqa: E402  (the machine's description)
import engines  # noqa: E402  (process measurements)

DIRECT = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']
FOLDS = 5


def review_page(state_dir):
    """{load_s, page_s, queued, loaded, peak_rss_mib} of the review app over `state_dir`, in this process."""
    from pipelines.review import app as review_app, queue as review_queue  # noqa: E402  (TensorFlow-free)
    start = time.perf_counter()
    published = review_queue.load_published_run(state_dir)
    loaded = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        app = review_app.create_app(published, os.path.join(scratch, 'reviews.sqlite'))
        response = app.test_client().get('/')
    assert response.status_code == 200, response.status_code
    done = time.perf_counter()
    queued = len(review_queue.queue(published, {}))
    return dict(load_s=round(loaded - start, 1), page_s=round(done - loaded, 2), loaded=len(published.records),
                queued=queued, peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def audit_folds(state_dir):
    """The audit's folds over the published items: seconds, the largest group, the largest fold's share."""
    import collections  # pylint: disable=import-outside-toplevel
    import glob  # pylint: disable=import-outside-toplevel
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
    from pipelines.rules import folds  # pylint: disable=import-outside-toplevel
    with open(os.path.join(state_dir, 'CURRENT'), encoding='utf-8') as f:
        run_dir = os.path.join(state_dir, 'runs', f.read().strip())
    table = pq.ParquetDataset(glob.glob(os.path.join(run_dir, 'catalog-*.parquet'))).read(
        columns=['id', 'productDisplayName', 'content_hash'])
    ids, names, hashes = (table[c].to_pylist() for c in ('id', 'productDisplayName', 'content_hash'))
    start = time.perf_counter()
    assigned = folds.assign(ids, names, [h or '' for h in hashes], FOLDS)
    seconds = time.perf_counter() - start
    groups = collections.Counter(key for _, _, key in assigned.values())
    per_fold = collections.Counter(fold for fold, _, _ in assigned.values())
    return dict(items=len(ids), seconds=round(seconds, 1), groups=len(groups),
                largest_group=groups.most_common(1)[0][1],
                largest_fold_share=round(max(per_fold.values()) / len(ids), 3),
                peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measured(command, work, name):
    with open(os.path.join(work, f'{name}.log'), 'w', encoding='utf-8') as log:
        wall, peaks = engines.measure(command, {}, log)
    return dict(wall_s=round(wall, 1), peak_rss_mib=peaks['launcher'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--state', required=True)
    parser.add_argument('--work', required=True)
    parser.add_argument('--parts', default='validate,review,label_studio,folds')
    parser.add_argument('--in-process', choices=('review', 'folds'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process:  # one part in a process of its own, for its peak RSS
        print(json.dumps((review_page if args.in_process == 'review' else audit_folds)(args.state)))
        return
    os.makedirs(args.work, exist_ok=True)
    saved = os.path.join(args.work, 'scale_downstream.json')
    results = engines.read_json(saved) if os.path.exists(saved) else {}
    with open(os.path.join(args.catalog, 'styles.csv'), 'rb') as f:
        items = sum(1 for _ in f) - 1
    for part in args.parts.split(','):
        if part == 'validate':
            figures = measured([engines.FASHION, 'validate', '--catalog', args.catalog, '--output',
                                os.path.join(args.work, f'validate-{items}'), *DIRECT], args.work, f'validate-{items}')
        elif part == 'label_studio':
            figures = measured([engines.FASHION, 'review', '--state', args.state, '--db',
                                os.path.join(args.work, 'reviews.sqlite'), '--export-label-studio',
                                os.path.join(args.work, f'tasks-{items}.json'), '--label-studio-image-paths'],
                               args.work, f'label-studio-{items}')
        else:
            import subprocess  # pylint: disable=import-outside-toplevel
            out = subprocess.run([sys.executable, __file__, '--catalog', args.catalog, '--state', args.state,
                                  '--work', args.work, '--in-process', part], capture_output=True, text=True,
                                 check=True).stdout
            figures = json.loads(out.strip().splitlines()[-1])
        results[f'{items} {part}'] = dict(figures, machine=bench.machine())
        print(part, json.dumps(figures), flush=True)
        with open(saved, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
