"""Mislabel flags when the catalog's labels are already noisy, in every split, the training data too.

    .venv/bin/python benchmarks/noisy_training.py --catalog ../shared/data/fashion-product-images-small \
        [--work runs/noisy-5] [--rate 0.05] [train flags...]

1. writes a copy of the catalog (images linked, not copied) where a seeded `--rate` of its labelled items take
   the labels of an item of another Class, half within their masterCategory (pipelines/rules/noise.py);
   Free Items rows, whose Class comes from their name, are neither flipped nor donors;
2. prepares it, trains the default model on it and scores the whole noisy catalog, as a user would (each step
   is skipped when its output is already there, so a stopped run continues);
3. measures the score job's flags against the flipped items, at the threshold the product fitted itself:
   precision over all flags, recall over all flipped items and per split of the prepared data.
Precision counts every flag on an item that was not flipped as false, though the catalog has mislabels of
its own: a lower bound. Writes WORK/noisy_training.json and prints the BENCHMARKS.md lines.
"""
import argparse
import csv
import glob
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq

from pipelines import artifacts
from pipelines.rules import catalog, noise, taxonomy as taxonomy_lib
from pipelines.storage import exported_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 1201
BIN = os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline')


def write_noisy_catalog(catalog_dir, rate, output):
    """The noisy copy of the catalog; returns ({flipped id: [its Class, the Class it now has]}, labelled items)."""
    shipped = taxonomy_lib.load()
    with open(catalog.styles_path(catalog_dir), encoding='utf-8-sig', newline='') as f:
        rows = list(csv.DictReader(f))
    with_image = [r for r in rows if os.path.exists(catalog.image_path(catalog_dir, r['id']))]
    noisy, flipped = noise.flip_catalog_labels(with_image, shipped, rate, SEED)
    by_id = {r['id']: r for r in noisy}
    os.makedirs(os.path.join(output, artifacts.IMAGES))
    with open(catalog.styles_path(output), 'w', encoding='utf-8', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=catalog.COLUMNS, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(by_id.get(r['id'], r) for r in rows)  # rows without an image stay, to be quarantined
    for row in with_image:
        os.symlink(os.path.abspath(catalog.image_path(catalog_dir, row['id'])), catalog.image_path(output, row['id']))
    labelled = sum(1 for r in with_image if shipped.class_of(catalog.labels_of(r), r['productDisplayName']).label
                   not in (None, shipped.relabel_source))
    return flipped, labelled


def noisy_catalog(catalog_dir, rate, work):
    """WORK/catalog, the noisy copy, written once; returns WORK/flipped.json ({'labelled_items': N, 'flipped':
    {flipped id: [its Class, the Class it now has]}}), which the benchmarks of the same noisy catalog share."""
    flipped_path = os.path.join(work, 'flipped.json')
    if not os.path.exists(flipped_path):
        flipped, items = write_noisy_catalog(catalog_dir, rate, os.path.join(work, 'catalog'))
        with open(flipped_path, 'w', encoding='utf-8') as f:
            json.dump({'labelled_items': items, 'flipped': flipped}, f)
    with open(flipped_path, encoding='utf-8') as f:
        return json.load(f)


def splits(prepared):
    """{id: split} of a prepared folder's TFRecords."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (only to read the TFRecords)
    found = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(prepared, artifacts.TFRECORDS, f'*{artifacts.TFRECORD_SUFFIX}'))):
        split = os.path.basename(path).split('-')[0]
        for batch in tf.data.TFRecordDataset(path, compression_type='GZIP').batch(1024):
            ids = tf.io.parse_example(batch, {'id': tf.io.FixedLenFeature([], tf.string)})['id'].numpy()
            found.update({i.decode(): split for i in ids})
    return found


def _step(done_marker, command):
    if not os.path.exists(done_marker):
        print('running:', ' '.join(command), flush=True)
        subprocess.run(command, check=True)


def precision_recall(flagged, flipped):
    hits = len(flagged & flipped)
    return {'flagged': len(flagged), 'flipped': len(flipped), 'flagged_and_flipped': hits,
            'precision': round(hits / len(flagged), 4) if flagged else None,
            'recall': round(hits / len(flipped), 4) if flipped else None}


def measure(work, flipped, items):
    """Precision and recall of the score job's flags, overall and per split."""
    export = exported_model.load_exported(os.path.join(work, 'model', artifacts.EXPORT))
    with open(os.path.join(work, 'model', artifacts.METRICS), encoding='utf-8') as f:
        metrics = json.load(f)
    records = [r for p in sorted(glob.glob(os.path.join(work, 'scores', f'{artifacts.PREDICTIONS}-*.parquet')))
               for r in pq.read_table(p).to_pylist()]
    with open(os.path.join(work, 'scores', artifacts.SUMMARY), encoding='utf-8') as f:
        summary = json.load(f)
    flagged = {r['id'] for r in records if r['disagrees']}
    wrong = set(flipped)
    split_of = splits(os.path.join(work, 'prepared'))
    per_split = {}
    for split in ('train', 'val', 'test'):
        ids = {i for i, s in split_of.items() if s == split}
        per_split[split] = precision_recall(flagged & ids, wrong & ids)
    unseen = {i for i, s in split_of.items() if s != 'train'}
    return {'labelled_items': items, 'flipped': len(flipped), 'seed': SEED, 'scored': len(records),
            'test_accuracy_against_noisy_labels': metrics['test.accuracy'],
            'flag_threshold': export.flag_max_given_probability,
            'flag_fit': summary['disagreements'].get('fit'),
            'all': precision_recall(flagged, wrong), 'per_split': per_split,
            'val_and_test': precision_recall(flagged & unseen, wrong & unseen)}


def markdown_lines(r, rate):
    lines = [f'Flags on a catalog whose labels are already noisy (`benchmarks/noisy_training.py`, seed {r["seed"]}): '
             f'{rate:.0%} of the real catalog\'s {r["labelled_items"]:,} labelled items ({r["flipped"]:,}) given '
             'another Class\'s labels in every split before prepare; the default model trained on it (test accuracy '
             f'against the noisy labels {r["test_accuracy_against_noisy_labels"]:.4f}); the whole catalog scored at '
             f'the threshold the product fitted itself ({r["flag_threshold"]:.4g}).', '',
             '| items | flipped | flagged | precision | recall |', '| --- | --- | --- | --- | --- |']
    rows = [('all', r['all']), *r['per_split'].items(), ('val and test (never trained on)', r['val_and_test'])]
    for name, e in rows:
        precision = '—' if e['precision'] is None else f'{e["precision"]:.3f}'
        recall = '—' if e['recall'] is None else f'{e["recall"]:.3f}'
        lines.append(f'| {name} | {e["flipped"]} | {e["flagged"]} | {precision} | {recall} |')
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--work', default=os.path.join(ROOT, 'runs', 'noisy-5'))
    parser.add_argument('--rate', type=float, default=0.05)
    args, train_flags = parser.parse_known_args(argv)
    work = args.work
    saved = noisy_catalog(args.catalog, args.rate, work)
    _step(os.path.join(work, 'prepared', artifacts.MANIFEST),
          [BIN, 'prepare', '--catalog', os.path.join(work, 'catalog'), '--output', os.path.join(work, 'prepared'),
           '--direct_running_mode=multi_processing', '--direct_num_workers=2'])
    model_dir = os.path.join(work, 'model')
    _step(os.path.join(model_dir, artifacts.TRAINING_RUN),
          [BIN, 'train', '--data', os.path.join(work, 'prepared'), '--model-dir', model_dir,
           *(['--resume'] if os.path.exists(os.path.join(model_dir, artifacts.BACKUP)) else []), *train_flags])
    _step(os.path.join(work, 'scores', artifacts.SUMMARY),
          [BIN, 'score', '--catalog', os.path.join(work, 'catalog'), '--model', os.path.join(model_dir, 'export'),
           '--output', os.path.join(work, 'scores')])
    result = measure(work, saved['flipped'], saved['labelled_items'])
    with open(os.path.join(work, 'noisy_training.json'), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    print('\n'.join(markdown_lines(result, args.rate)))


if __name__ == '__main__':
    main()
