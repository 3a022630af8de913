"""What the name branch of the full-labels model knows, per size: the branch alone (trainer/model.name_branch,
TF-IDF of word and character n-grams into one ReLU layer) under the `name_only` head, trained on the train split's
names with the default recipe's optimizer and schedule, measured on the test split's articleType.

    .venv/bin/python benchmarks/name_branch.py --prepared PREPARED_DIR [--name-branch WORDS,CHARS,WIDTH ...]

It isolates the name branch: no image, so a variant trains in minutes, not the hour a whole model takes, and the
variants differ only in the branch. The whole model's name head trains beside the image and the fused head, so
its accuracy differs a little from this one's; compare the variants here with each other, and the chosen one
through a whole training (BENCHMARKS.md). Prints one JSON line per variant: parameters of the branch and head,
test articleType accuracy and macro F1 over the known types, training seconds.
"""
import argparse
import json
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from pipelines import artifacts  # noqa: E402
from trainer import data, features, full_labels, model as model_lib, precision, recipe as recipes, train  # noqa: E402

SPEC = {name: features.FEATURE_SPEC[name] for name in ('productDisplayName', 'articleType', 'class_name')}


def split_items(prepared, split, leaves):
    """(names [N] as bytes, leaf index [N] (-1: none), known [N]) of a split, in id order."""
    names, leaf, known = [], [], []
    for batch in data.records_by_id(tf.io.gfile.glob(artifacts.tfrecord_pattern(prepared, split))).batch(1024):
        parsed = tf.io.parse_example(batch, SPEC)
        names += list(parsed['productDisplayName'].numpy())
        for article_type, class_name in zip(parsed['articleType'].numpy(), parsed['class_name'].numpy()):
            article_type = article_type.decode('utf-8')
            leaf.append(leaves.index(article_type, class_name.decode('utf-8')))
            known.append(leaves.known(article_type))
    return np.array(names, dtype=object), np.array(leaf), np.array(known)


def measure(prepared, leaves, train_names, items, branch, recipe):
    """Trains the branch with a `name_only` head on the train split and scores it on test."""
    keras.utils.set_random_seed(42)
    words, chars, width = branch
    with precision.policy(precision.resolve(recipe.precision)):  # as the whole model trains on this machine
        name = keras.Input(shape=(), dtype='string', name='name')
        embedding = model_lib.name_branch(name, train_names, words, chars, width)
        head = layers.Dense(len(leaves.article_types), activation='softmax', dtype='float32',
                            name='name_only')(embedding)
        model = keras.Model(name, head)
    (names, leaf, _), test = items['train'], items['test']
    labelled = leaf >= 0
    steps = recipes.steps_per_epoch(recipe, int(labelled.sum())) * recipe.epochs
    model.compile(optimizer=recipes.optimizer(recipe, steps), loss=recipes.loss(recipe))
    dataset = (tf.data.Dataset.from_tensor_slices((list(names[labelled]), leaf[labelled]))
               .shuffle(len(leaf), seed=42).batch(recipe.batch_size))
    start = time.perf_counter()
    model.fit(dataset, epochs=recipe.epochs, verbose=0)
    seconds = time.perf_counter() - start
    probabilities = model.predict(tf.constant(list(test[0])), batch_size=1024, verbose=0)
    scores = full_labels.level_scores(probabilities, test[1], test[2])
    return {'name_branch': ','.join(map(str, branch)), 'parameters': int(model.count_params()),
            'article_type_accuracy': round(scores['accuracy'], 4),
            'article_type_macro_f1': round(scores['macro_f1'], 4),
            'examples': scores['examples'], 'train_seconds': round(seconds, 1),
            'precision': precision.resolve(recipe.precision), 'cpu': train.cpu_model()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--prepared', required=True)
    parser.add_argument('--name-branch', action='append', default=[], metavar='WORDS,CHARS,WIDTH',
                        help='a variant (repeatable; default: the model\'s own sizes)')
    args = parser.parse_args()
    _, classes = data.read_prepared(args.prepared)
    leaves, train_names, _ = train.fit_leaves(args.prepared, classes)
    items = {split: split_items(args.prepared, split, leaves) for split in ('train', 'test')}
    recipe = recipes.RECIPES['fused']
    variants = [tuple(int(v) for v in text.split(',')) for text in args.name_branch] or [
        (model_lib.WORD_VOCABULARY, model_lib.CHAR_VOCABULARY, model_lib.NAME_WIDTH)]
    for branch in variants:
        print(json.dumps(measure(args.prepared, leaves, train_names, items, branch, recipe)), flush=True)


if __name__ == '__main__':
    main()
