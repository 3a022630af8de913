"""The tf.data input alone (images/s) against the reference CNN's training rate, on a prepared folder.

    .venv/bin/python benchmarks/input_vs_training.py --data PREPARED [--steps 200] [--output FILE.json]

Input: the training pipeline (read shards, parse, decode, flip, batch 32) without the in-memory cache,
i.e. what the first epoch pays. Training: reference CNN steps fed by that pipeline, and fed from batches
already decoded in memory (the upper bound). The input must be far faster than training for the model,
not the input, to bound an epoch.
"""
import argparse
import json
import os
import platform
import time

import tensorflow as tf

from trainer import data, features, recipe as recipes


def images_per_second(dataset, steps):
    iterator = iter(dataset)
    next(iterator)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        images += int(next(iterator)[0].shape[0])
    return images / (time.perf_counter() - start)


def training_images_per_second(model, dataset, steps):
    """Images/s of `steps` training steps, after 5 steps of warm-up (tracing, first allocations)."""
    model.fit(dataset.take(5), epochs=1, verbose=0)
    batch_size = int(tf.nest.flatten(next(iter(dataset))[0])[0].shape[0])
    start = time.perf_counter()
    model.fit(dataset.take(steps), epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True)
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--output')
    args = parser.parse_args()
    _, classes = data.read_prepared(args.data)
    pipeline = data.make_dataset(args.data, 'train', 3, training=True, cache=False).repeat()
    input_rate = images_per_second(pipeline, args.steps)
    model = recipes.compiled_model('seed_cnn', len(classes), 3, recipes.RECIPES['seed_cnn'], args.steps)
    fed_rate = training_images_per_second(model, pipeline, args.steps)
    batches = list(pipeline.take(args.steps))
    in_memory = tf.data.Dataset.from_tensor_slices((tf.concat([b[0] for b in batches], 0),
                                                    tf.concat([b[1] for b in batches], 0)))
    memory_rate = training_images_per_second(model, in_memory.batch(data.BATCH_SIZE).repeat(), args.steps)
    result = {
        'machine': {'cores': os.cpu_count(), 'cpu': platform.processor() or platform.machine()},
        'steps': args.steps, 'batch_size': data.BATCH_SIZE,
        'image_shape': [features.IMAGE_HEIGHT, features.IMAGE_WIDTH, 3],
        'input_images_per_s': round(input_rate, 1),
        'training_images_per_s_fed_by_tf_data': round(fed_rate, 1),
        'training_images_per_s_from_memory': round(memory_rate, 1),
        'input_over_training': round(input_rate / fed_rate, 2),
        'fed_over_memory': round(fed_rate / memory_rate, 3),
    }
    print(json.dumps(result, indent=1))
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
