"""Where the training input's first epoch spends its time: the tf.data pipeline built up one step at a time.

    .venv/bin/python benchmarks/input_profile.py --data PREPARED [--batches 600] [--output FILE.json]

Each line adds one step of trainer/data.make_dataset (uncached, as on the first epoch) and prints the
images/s of everything so far; the last line is make_dataset itself. The steps run inside tf.data's C++
threads, out of sight of py-spy or cProfile, so this ablation is the profile. A step's cost is the drop
from the line before it.
"""
import argparse
import json
import time

import tensorflow as tf

from pipelines import artifacts
from trainer import data, features


def images_per_second(dataset, batches):
    iterator = iter(dataset)
    next(iterator)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        images += int(tf.shape(next(iterator)[0])[0])
    return images / (time.perf_counter() - start)


def steps(data_dir):
    """(name, dataset of batches) for each step, each built on the steps before it."""
    shards = tf.io.gfile.glob(artifacts.tfrecord_pattern(data_dir, 'train'))
    records = (tf.data.Dataset.list_files(shards, shuffle=True, seed=42)
               .interleave(lambda path: tf.data.TFRecordDataset(path, compression_type='GZIP'),
                           cycle_length=len(shards))
               .repeat())

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features.FEATURE_SPEC)
        return parsed['image'], parsed['class_index']

    def decode(jpegs, labels):
        return features.decode_images(jpegs, 3), labels

    parsed = records.batch(data.DECODE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    decoded = parsed.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    shuffled = decoded.unbatch().shuffle(data.SHUFFLE_BUFFER, seed=42).batch(data.BATCH_SIZE)
    return [
        ('read gzip TFRecords', records.batch(data.BATCH_SIZE).map(lambda r: (r, r))),
        ('+ parse 32 at a time', parsed),
        ('+ decode the JPEGs (resize when not 80x60)', decoded),
        ('+ unbatch, shuffle (10,000), batch 32', shuffled),
        ('+ flip, rescale to float32 = make_dataset, uncached',
         data.make_dataset(data_dir, 'train', 3, training=True, cache=False).repeat()),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='a prepare output folder')
    parser.add_argument('--batches', type=int, default=600)
    parser.add_argument('--output', help='also write the figures to this JSON file')
    args = parser.parse_args()
    figures = {}
    for name, dataset in steps(args.data):
        figures[name] = images_per_second(dataset, args.batches)
        print(f'{figures[name]:9.0f} images/s  {name}', flush=True)
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            json.dump(figures, f, indent=1)


if __name__ == '__main__':
    main()
