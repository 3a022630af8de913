"""What reading the name costs in training: training steps of the full-labels model (`fused`) against the
image-only residual net (`resnet`) on the same batches, one model after the other, in one process.

    .venv/bin/python benchmarks/fused_cost.py --prepared PREPARED_DIR [--steps 40] [--warmup 8] \
        [--name-branch WORDS,CHARS,WIDTH ...] [--without-attributes] [--precision float32|mixed_bfloat16]

`fused` is the default: with its attribute heads (gender, colour, usage, season: rules/attributes.py) where the
prepared data has those columns; `--without-attributes` also measures it without them, so that what the heads
cost is one ratio. Each `--name-branch` measures one more `fused` variant: word and character n-gram vocabularies
and the name layer's width (the default's is model.WORD_VOCABULARY, CHAR_VOCABULARY, NAME_WIDTH), with its
parameters and forward multiply-adds per item (trainer/cost.py).

Both models train with their own recipe (the same one: batch 64, AdamW, the same augmentation) and the policy
`--precision auto` picks on this machine, or the one `--precision` names. Batches are decoded once and held in memory, so the figure is the
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

from trainer import cost, data, model as model_lib, precision, recipe as recipes, train  # noqa: E402


def batches(prepared, leaves, count, batch_size, attributes=None):
    dataset = data.make_dataset(prepared, 'train', 3, training=True, batch_size=batch_size, cache=False,
                                leaves=leaves, attributes=attributes)
    return list(dataset.take(count))


def images_per_second(name, prepared, classes, leaves, names, steps, warmup, branch=None, attributes=None,
                      policy=None):
    """(images/s, precision policy, the model's cost) of `steps` training steps of model `name` (`fused` with
    `attributes`' heads where given), under `policy` (default: the recipe's)."""
    recipe = recipes.RECIPES[name]
    policy = precision.resolve(policy or recipe.precision)
    keras.utils.set_random_seed(42)
    outputs, architecture = (len(leaves.article_types), {'names': names}) if name == 'fused' else (len(classes), {})
    if branch:
        architecture.update(zip(('word_vocabulary', 'char_vocabulary', 'name_width'), branch))
    if attributes:
        architecture['attributes'] = {attribute: len(values) for attribute, values in attributes.values.items()}
    model = recipes.compiled_model(name, outputs, 3, recipe, 1000, policy, architecture)
    held = batches(prepared, leaves if name == 'fused' else None, steps + warmup, recipe.batch_size, attributes)
    for inputs, labels in held[:warmup]:
        model.train_on_batch(inputs, labels)
    start = time.perf_counter()
    for inputs, labels in held[warmup:]:
        model.train_on_batch(inputs, labels)
    return steps * recipe.batch_size / (time.perf_counter() - start), policy, cost.model_cost(model)


def branch(text):
    words, chars, width = (int(value) for value in text.split(','))
    return words, chars, width


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--prepared', required=True)
    parser.add_argument('--steps', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=8)
    parser.add_argument('--name-branch', type=branch, action='append', default=[], metavar='WORDS,CHARS,WIDTH')
    parser.add_argument('--precision', choices=('float32', 'mixed_bfloat16'), help='(default: the recipe\'s, auto)')
    parser.add_argument('--without-attributes', action='store_true',
                        help='also measure the fused model without its attribute heads')
    args = parser.parse_args()
    tf.config.optimizer.set_experimental_options({'arithmetic_optimization': False})  # as train.run does
    _, classes = data.read_prepared(args.prepared)
    leaves, names, attributes = train.fit_leaves(args.prepared, classes)
    result = {'cpu': train.cpu_model(), 'cpu_count': os.cpu_count(), 'steps': args.steps,
              'attributes': list(attributes.values)}
    default = (model_lib.WORD_VOCABULARY, model_lib.CHAR_VOCABULARY, model_lib.NAME_WIDTH)
    runs = [('resnet', None, None), ('fused', None, attributes)]
    runs += [('fused', None, None)] if args.without_attributes else []
    runs += [('fused', b, attributes) for b in args.name_branch]
    for name, variant, heads in runs:
        speed, result['precision'], model_cost = images_per_second(name, args.prepared, classes, leaves, names,
                                                                   args.steps, args.warmup, variant, heads,
                                                                   args.precision)
        key = name if name == 'resnet' else 'fused ' + ','.join(map(str, variant or default)) + (
            '' if heads else ' without attributes')
        result[key] = {'images_per_second': round(speed, 1), **model_cost}
        if name == 'fused':
            result[key]['epoch_time_ratio'] = round(result['resnet']['images_per_second'] / speed, 3)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
