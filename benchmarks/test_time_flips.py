"""Test-time flips, one of the image head's levers: each head's test accuracy at every level from the image as it
is, and from the average of its probabilities on the image and on its mirror (a left-right flip, the training
augmentation's), with the same name. No training: it reads a trained full-labels model.

    .venv/bin/python benchmarks/test_time_flips.py --model-dir MODEL_DIR --data PREPARED_DIR

Prints one JSON line: for each head and level, accuracy and macro F1 without and with the flip (the model's own
probabilities: a temperature does not change an argmax), over the test split.
"""
import argparse
import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

from trainer import data, evaluate, full_labels, model as model_lib, train  # noqa: E402


def mirrored_predict(model, data_dir, split):
    """{head: leaf probabilities averaged over the image and its left-right mirror} of a split, in file order."""
    out = {head: [] for head in model_lib.HEADS}
    for batch in data.labelled_batches(data_dir, split, model.input['image'].shape[-1]):
        plain = model.predict_on_batch({'image': batch['image'], 'name': batch['productDisplayName']})
        mirror = model.predict_on_batch({'image': batch['image'][:, :, ::-1, :], 'name': batch['productDisplayName']})
        for head in model_lib.HEADS:
            out[head].append((np.asarray(plain[head]) + np.asarray(mirror[head])) / 2)
    return {head: np.concatenate(values) for head, values in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model-dir', required=True)
    parser.add_argument('--data', required=True, help='the prepared data it trained on')
    args = parser.parse_args()
    data_dir = args.data
    model, leaves = evaluate.load_trained(args.model_dir)
    outputs = full_labels.predict(model, data_dir, 'test', leaves)
    plain = full_labels.split_scores(outputs, leaves, 'test')
    flipped = full_labels.split_scores(outputs, leaves, 'test', mirrored_predict(model, data_dir, 'test'))
    print(json.dumps({'cpu': train.cpu_model(), 'model_dir': args.model_dir,
                      'plain': {k: round(v, 4) for k, v in plain.items() if k.endswith(('accuracy', 'macro_f1'))},
                      'flipped': {k: round(v, 4) for k, v in flipped.items()
                                  if k.endswith(('accuracy', 'macro_f1'))}}))


if __name__ == '__main__':
    main()
