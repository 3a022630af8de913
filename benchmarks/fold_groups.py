"""The audit's fold groups on a prepared catalog, by exact normalised name and by variant name (rules/folds.py):
groups, the largest, and the labelled items per fold, for 2 and 5 folds.

    .venv/bin/python benchmarks/fold_groups.py --prepared PREPARED_DIR

Items are joined by the content hash of their image bytes and by the name key, as the audit's folds join them
(transforms/folds.py); the labelled items are those with a given articleType. Prints one JSON line per name key.
"""
import argparse
import collections
import glob
import hashlib
import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import tensorflow as tf  # noqa: E402

from pipelines import artifacts  # noqa: E402
from pipelines.rules import folds  # noqa: E402


def labelled_items(prepared):
    """(display names, image content hashes) of the prepared items with an articleType."""
    names, hashes = [], []
    spec = {key: tf.io.FixedLenFeature([], tf.string) for key in ('productDisplayName', 'articleType', 'image')}
    shards = sorted(glob.glob(os.path.join(prepared, artifacts.TFRECORDS, '*' + artifacts.TFRECORD_SUFFIX)))
    for batch in tf.data.TFRecordDataset(shards, compression_type='GZIP').batch(1024):
        parsed = tf.io.parse_example(batch, spec)
        for name, article, image in zip(*(parsed[k].numpy() for k in ('productDisplayName', 'articleType', 'image'))):
            if article:
                names.append(name.decode('utf-8'))
                hashes.append(hashlib.sha256(image).hexdigest())
    return names, hashes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--prepared', required=True, help='a prepare output folder')
    names, hashes = labelled_items(parser.parse_args().prepared)
    for label, key in (('exact name', folds.normalised_name), ('variant name', folds.variant_name)):
        groups = folds.group_keys([key(name) for name in names], hashes)
        sizes = collections.Counter(groups)
        per_fold = {k: sorted(collections.Counter(folds.assign_fold(g, k) for g in groups).values()) for k in (2, 5)}
        print(json.dumps({'key': label, 'labelled': len(names), 'groups': len(sizes),
                          'largest': max(sizes.values()), 'items_per_fold': per_fold}))


if __name__ == '__main__':
    main()
