"""What reading the name costs in training: training steps of the full-labels model (`fused`) against the
image-only residual net (`resnet`) on the same batches, one model after the other, in one process.

    .venv/bin/python benchmarks/fused_cost.py --prepared PREPARED_DIR [--steps 40] [--warmup 8]

Both models train with their own recipe (the same one: batch 64, AdamW, the same augmentation) and the policy
`--precision auto` picks on this machine. Batches are decoded once and held in memory, so the figure is the
model's step, not the input pipeline's; the first `--warmup` steps (tracing) are not timed. Prints one JSON line:
images/s of each and their ratio, which is how much longer an epoch of `fused` takes.
"""
import argparse
import json
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipelines import artifacts  # noqa: E402
from pipelines.rules import leaves as leaves_lib  # noqa: E402
from pipelines.rules.taxonomy import Taxonomy  # noqa: E402
from pipelines.storage import files  # noqa: E402
from trainer import data, precision, recipe as recipes, train  # noqa: E402


def batches(prepared, leaves, count, batch_size):
    dataset = data.make_dataset(prepared, 'train', 3, training=True, batch_size=batch_size, cache=False,
                                leaves=leaves)
    return list(dataset.take(count))


def images_per_second(name, prepared, classes, leaves, names, steps, warmup):
    recipe = recipes.RECIPES[name]
    policy = precision.resolve(recipe.precision)
    keras.utils.set_random_seed(42)
    outputs, architecture = (len(leaves.article_types), {'names': names}) if name == 'fused' else (len(classes), {})
    model = recipes.compiled_model(name, outputs, 3, recipe, 1000, policy, architecture)
    held = batches(prepared, leaves if name == 'fused' else None, steps + warmup, recipe.batch_size)
    for inputs, labels in held[:warmup]:
        model.train_on_batch(inputs, labels)
    start = time.perf_counter()
    for inputs, labels in held[warmup:]:
        model.train_on_batch(inputs, labels)
    return steps * recipe.batch_size / (time.perf_counter() - start), policy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--prepared', required=True)
    parser.add_argument('--steps', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=8)
    args = parser.parse_args()
    tf.config.optimizer.set_experimental_options({'arithmetic_optimization': False})  # as train.run does
    _, classes = data.read_prepared(args.prepared)
    counts, names = data.train_counts(args.prepared)
    taxonomy = Taxonomy.from_dict(files.read_json(os.path.join(args.prepared, artifacts.TAXONOMY)))
    leaves = leaves_lib.fit(counts, classes, lambda *labels: taxonomy.classify(*labels)[0])
    result = {'cpu': train.cpu_model(), 'cpu_count': os.cpu_count(), 'steps': args.steps}
    for name in ('resnet', 'fused'):
        result[name], result['precision'] = images_per_second(name, args.prepared, classes, leaves, names,
                                                              args.steps, args.warmup)
    result['fused_epoch_time_ratio'] = result['resnet'] / result['fused']
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == '__main__':
    main()
