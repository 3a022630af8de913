"""The score job against the model it serves: end-to-end images/s over the ratio of the serving function's own rate.

    git worktree add /tmp/before <commit>      # optional: older code to compare with
    .venv/bin/python benchmarks/score_speed.py --catalog ../shared/data/fashion-product-images-small \
        --model MODEL_DIR/export [--tree before=/tmp/before] [--work DIR] [--output FILE.json]

In one invocation, one after the other:
  - in memory: the export's serving function called on every image of the catalog that decodes (the JPEG bytes
    read into memory first, with each item's display name for a full-labels export), in batches of the job's
    size, decode included, after one warm-up batch;
  - for each tree (each older tree, then this one): `score` on the catalog as the README runs it (in-memory
    DirectRunner), and its summary's `images_per_second` (scored images over the pipeline's wall time, start-up
    included) and the command's wall time (imports and model load included).
The ratio is the job's `images_per_second` over the in-memory rate.
"""
import argparse
import json
import os
import shutil
import time

import bench  # sibling scripts: benchmarks/ is on sys.path when this one runs
from name_baseline import catalog_rows

from pipelines import artifacts
from pipelines.rules import images, predictions


def in_memory_rate(catalog_dir, export, batch_size):
    """Images/s of the serving function alone over the catalog's JPEG bytes (and, for a full-labels export, their
    display names), held in memory."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from pipelines.storage import exported_model  # pylint: disable=import-outside-toplevel
    folder = os.path.join(catalog_dir, 'images')
    names = {row['id']: row.get('productDisplayName', '') for row in catalog_rows(catalog_dir)}
    items = []
    for file_name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, file_name), 'rb') as f:
            blob = f.read()
        if images.check_jpeg(blob) is None:  # the images the job scores
            items.append((blob, names.get(os.path.splitext(file_name)[0], '').encode('utf-8')))
    loaded = exported_model.load_exported(export)
    serve = tf.saved_model.load(loaded.path).signatures[artifacts.SERVING_SIGNATURE]
    batches = []
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        inputs = {'image_bytes': tf.constant([blob for blob, _ in chunk])}
        if loaded.full_labels:
            inputs['name'] = tf.constant([name for _, name in chunk])
        batches.append(inputs)
    serve(**batches[0])['probabilities'].numpy()
    start = time.perf_counter()
    for batch in batches:
        serve(**batch)['probabilities'].numpy()
    return {'images': len(items), 'full_labels': loaded.full_labels,
            'images_per_s': round(len(items) / (time.perf_counter() - start), 1)}


def score_job(tree, catalog_dir, export, output):
    """TREE's score job on the catalog, run from TREE: its summary's images/s, the command's wall time and peak RSS."""
    shutil.rmtree(output, ignore_errors=True)
    wall, peak, _ = bench.run_in_tree(tree, ['score', '--catalog', catalog_dir, '--model', export, '--output', output])
    with open(os.path.join(output, artifacts.SUMMARY), encoding='utf-8') as f:
        summary = json.load(f)
    return {'scored': summary['scored'], 'quarantined': summary['quarantined'],
            'images_per_second': summary['images_per_second'], 'command_wall_s': round(wall, 1),
            'peak_rss_mib': round(peak)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--model', required=True, help='an export folder, as `score --model` takes it')
    bench.add_tree_flag(parser)
    parser.add_argument('--batch-size', type=int, default=predictions.INFERENCE_BATCH_SIZE,
                        help='the job\'s inference batch size (default: the job\'s default)')
    parser.add_argument('--work', default='/tmp/score-speed')
    parser.add_argument('--output')
    args = parser.parse_args(argv)
    args.catalog, args.model = os.path.abspath(args.catalog), os.path.abspath(args.model)
    results = {'machine': bench.machine(), 'catalog': args.catalog, 'model': args.model,
               'batch_size': args.batch_size,
               'in_memory': in_memory_rate(args.catalog, args.model, args.batch_size), 'jobs': {}}
    print(f'in memory: {results["in_memory"]["images_per_s"]} images/s', flush=True)
    for name, tree in bench.trees(args):
        job = score_job(tree, args.catalog, args.model, os.path.join(args.work, f'scores-{name}'))
        job['ratio'] = round(job['images_per_second'] / results['in_memory']['images_per_s'], 3)
        results['jobs'][name] = dict(job, tree=tree)
        print(f'{name}: {job["images_per_second"]} images/s ({job["ratio"]}x), command {job["command_wall_s"]} s',
              flush=True)
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
