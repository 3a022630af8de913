"""Evaluation of a trained model on every split: what the seed reported, and more.

    fashion-pipeline evaluate --data PREPARED_DIR --model-dir DIR

Writes at the model dir's root: metrics.json (keys like `test.accuracy`, `val.macro_f1`, and the model's
cost, `model.parameters` and `model.multiply_adds` per image),
classification_report.txt / .json, confusion_matrix.csv / .png (test split), misclassified.png (test images with
true and predicted labels) and blessing.json.
"""
import argparse
import json
import os
import sys

import matplotlib
import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics

from pipelines.errors import UserError
from pipelines.split import SPLITS
from trainer import cost, data
from trainer.model import MODEL_FILE

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

MISCLASSIFIED_SHOWN = 25


def predict_split(model, data_dir, split, channels):
    """(true indices, probabilities, images of the split) in file order."""
    labels, probabilities, images = [], [], []
    for batch_images, batch_labels in data.make_dataset(data_dir, split, channels, training=False, cache=False):
        probabilities.append(model.predict_on_batch(batch_images))
        labels.append(batch_labels.numpy())
        images.append((batch_images.numpy() * 255).astype(np.uint8))
    return np.concatenate(labels), np.concatenate(probabilities), np.concatenate(images)


def split_metrics(y_true, probabilities, num_classes):
    y_pred = probabilities.argmax(axis=1)
    out = {'loss': float(sk_metrics.log_loss(y_true, probabilities, labels=list(range(num_classes)))),
           'accuracy': float(sk_metrics.accuracy_score(y_true, y_pred)), 'examples': int(len(y_true))}
    for average in ('macro', 'weighted'):
        p, r, f, _ = sk_metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=list(range(num_classes)), average=average, zero_division=0)
        out.update({f'{average}_precision': float(p), f'{average}_recall': float(r), f'{average}_f1': float(f)})
    return out


def plot_confusion(matrix, classes, path):
    fig, ax = plt.subplots(figsize=(14, 12))
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shown, cmap='Blues', vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title('Confusion matrix, test split (rows normalised)')
    fig.tight_layout()
    with tf.io.gfile.GFile(path, 'wb') as f:
        fig.savefig(f, dpi=100, format='png')
    plt.close(fig)


def plot_misclassified(images, y_true, y_pred, classes, path):
    wrong = np.flatnonzero(y_true != y_pred)[:MISCLASSIFIED_SHOWN]
    columns = 5
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.2, rows * 2.8), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(images[i].squeeze(), cmap='gray' if images[i].shape[-1] == 1 else None)
        ax.set_title(f'true: {classes[y_true[i]]}\npred: {classes[y_pred[i]]}', fontsize=8)
    if not len(wrong):
        fig.suptitle('no misclassified test images')
    fig.tight_layout()
    with tf.io.gfile.GFile(path, 'wb') as f:
        fig.savefig(f, dpi=100, format='png')
    plt.close(fig)


def blessing(test_accuracy, min_accuracy, baseline_model_dir, tolerance):
    """Blessed when test accuracy reaches the floor and is not worse than the baseline's by > tolerance."""
    reasons = []
    if test_accuracy < min_accuracy:
        reasons.append(f'test accuracy {test_accuracy:.4f} is below {min_accuracy:.4f}')
    baseline_accuracy = None
    if baseline_model_dir:
        path = os.path.join(baseline_model_dir, 'metrics.json')
        if not tf.io.gfile.exists(path):
            raise UserError(f'--baseline-model {baseline_model_dir!r} has no metrics.json')
        with tf.io.gfile.GFile(path) as f:
            baseline_accuracy = json.load(f)['test.accuracy']
        if test_accuracy < baseline_accuracy - tolerance:
            reasons.append(f'test accuracy {test_accuracy:.4f} is worse than the baseline '
                           f'{baseline_accuracy:.4f} by more than {tolerance}')
    return {'blessed': not reasons, 'reasons': reasons, 'test_accuracy': test_accuracy,
            'min_accuracy': min_accuracy, 'baseline_model': baseline_model_dir,
            'baseline_test_accuracy': baseline_accuracy, 'tolerance': tolerance}


def evaluate(model, data_dir, model_dir, classes, min_accuracy=0.0, baseline_model_dir=None, tolerance=0.01):
    """Writes the evaluation files into `model_dir`; returns the metrics dict."""
    channels = model.input_shape[-1]
    metrics, reports, report_dicts = {}, [], {}
    for split in SPLITS:
        y_true, probabilities, images = predict_split(model, data_dir, split, channels)
        metrics.update({f'{split}.{k}': v for k, v in split_metrics(y_true, probabilities, len(classes)).items()})
        y_pred = probabilities.argmax(axis=1)
        reports.append(f'== {split} ({len(y_true)} images) ==\n' + sk_metrics.classification_report(
            y_true, y_pred, labels=list(range(len(classes))), target_names=list(classes), digits=3,
            zero_division=0))
        report_dicts[split] = sk_metrics.classification_report(
            y_true, y_pred, labels=list(range(len(classes))), target_names=list(classes), zero_division=0,
            output_dict=True)
        if split == 'test':
            matrix = sk_metrics.confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
            with tf.io.gfile.GFile(os.path.join(model_dir, 'confusion_matrix.csv'), 'w') as f:
                np.savetxt(f, matrix, fmt='%d', delimiter=',',
                           header='rows: true class, columns: predicted class, in this order: ' + ';'.join(classes))
            plot_confusion(matrix, classes, os.path.join(model_dir, 'confusion_matrix.png'))
            plot_misclassified(images, y_true, y_pred, classes, os.path.join(model_dir, 'misclassified.png'))
    metrics.update({f'model.{k}': v for k, v in cost.model_cost(model).items()})
    with tf.io.gfile.GFile(os.path.join(model_dir, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=1, sort_keys=True)
    with tf.io.gfile.GFile(os.path.join(model_dir, 'classification_report.txt'), 'w') as f:
        f.write('\n'.join(reports))
    with tf.io.gfile.GFile(os.path.join(model_dir, 'classification_report.json'), 'w') as f:
        json.dump(report_dicts, f, indent=1)
    with tf.io.gfile.GFile(os.path.join(model_dir, 'blessing.json'), 'w') as f:
        json.dump(blessing(metrics['test.accuracy'], min_accuracy, baseline_model_dir, tolerance), f, indent=1)
    return metrics


def add_blessing_flags(parser):
    parser.add_argument('--bless-min-accuracy', type=float, default=0.85,
                        help='test accuracy a model needs to be blessed (default 0.85)')
    parser.add_argument('--baseline-model', help='model dir to compare with: not blessed if worse by more '
                                                 'than --bless-tolerance')
    parser.add_argument('--bless-tolerance', type=float, default=0.01)


def run(argv=None):
    import keras  # pylint: disable=import-outside-toplevel  (TensorFlow loads only when evaluating)
    parser = argparse.ArgumentParser(prog='fashion-pipeline evaluate', description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='the prepare job output the model was trained on')
    parser.add_argument('--model-dir', required=True)
    add_blessing_flags(parser)
    args = parser.parse_args(argv)
    _, classes = data.read_prepared(args.data)
    path = os.path.join(args.model_dir, MODEL_FILE)
    if not tf.io.gfile.exists(path):
        raise UserError(f'no trained model at {path}')
    metrics = evaluate(keras.models.load_model(path, compile=False), args.data, args.model_dir, classes,
                       args.bless_min_accuracy, args.baseline_model, args.bless_tolerance)
    print(json.dumps({k: round(v, 4) for k, v in metrics.items() if k.endswith(('accuracy', 'macro_f1'))}))


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['evaluate', *sys.argv[1:]]))
