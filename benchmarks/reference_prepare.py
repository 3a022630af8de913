"""The prepare benchmark's reference: the same work as a plain single-process Python loop.

    .venv/bin/python benchmarks/reference_prepare.py --catalog DIR --output DIR

For each row of styles.csv: read its image, decode-check it (PIL), serialize the tf.train.Example and write
it to one of three GZIP TFRecord files by content-hash split. It skips everything else prepare does
(quarantine records, taxonomy, relabel, manifest, statistics), so it is a lower bound on the work.
"""
import argparse
import csv
import os

import tensorflow as tf

from pipelines.rules import catalog, images
from pipelines.rules.split import SPLITS, assign_split
from pipelines.rules.taxonomy import load
from pipelines.transforms.encode import EXAMPLE_TEXT_FEATURES


def make_example(row, image_bytes, class_index):
    """The Example a notebook builds: tf.train.Example, one row at a time."""
    def text(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode('utf-8')]))

    features = {
        'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        'id': text(row['id']),
        'class_name': text(row['class_name']),
        'class_index': tf.train.Feature(int64_list=tf.train.Int64List(value=[class_index])),
    }
    features.update({name: text(row[name]) for name in EXAMPLE_TEXT_FEATURES})
    return tf.train.Example(features=tf.train.Features(feature=features))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--output', required=True)
    args = parser.parse_args()
    taxonomy = load()
    classes = list(taxonomy.classes)
    os.makedirs(args.output, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type='GZIP')
    writers = {split: tf.io.TFRecordWriter(os.path.join(args.output, f'{split}.tfrecord.gz'), options)
               for split in SPLITS}
    written = 0
    with open(catalog.styles_path(args.catalog), encoding='utf-8', newline='') as f:
        for row in csv.DictReader(f):
            path = catalog.image_path(args.catalog, row['id'])
            if not os.path.exists(path):
                continue
            with open(path, 'rb') as image:
                data = image.read()
            if images.check_jpeg(data):
                continue
            label = taxonomy.classify(row['masterCategory'], row['subCategory'], row['articleType'])[0]
            class_index = classes.index(label) if label in classes else 0
            example = make_example(dict(row, class_name=label or ''), data, class_index)
            writers[assign_split(images.content_hash(data))].write(example.SerializeToString())
            written += 1
    for writer in writers.values():
        writer.close()
    print(written)


if __name__ == '__main__':
    main()
