"""Evaluation of a trained model on every split: what the reference notebook reported, and more.

    fashion-pipeline evaluate --data PREPARED_DIR --model-dir DIR

    fashion-pipeline evaluate --data PREPARED_DIR --model-dir DIR --export   (also writes a new export version)

Writes at the model dir's root: metrics.json (keys like `test.accuracy`, `val.macro_f1`, the model's cost,
`model.parameters` and `model.multiply_adds` per image, and the calibration: `calibration.temperature`,
`test.nll` / `test.ece` before and after it, `flag.max_given_probability`), calibration.json (the reliability
tables, the risk-coverage curve, the flag threshold's fit, the val split's most confused class pairs),
classification_report.txt / .json, confusion_matrix.csv / .png (test split), misclassified.png (test images with
true and predicted labels) and blessing.json. Split metrics are for the model's own probabilities; calibration
changes no prediction.
"""
import argparse
import io
import json
import os
import sys

import matplotlib
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn import metrics as sk_metrics

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import figures, files
from pipelines.rules import attributes as attributes_lib, flag_fit, leaves as leaves_lib
from pipelines.rules.split import SPLITS
from pipelines.rules.taxonomy import Taxonomy
from trainer import attribute_eval, calibration, cost, data, export, full_labels

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

MISCLASSIFIED_SHOWN = 25


def predict_split(model, data_dir, split, channels):
    """(true indices, probabilities, images, ids of the split) in file order."""
    labels, probabilities, images, ids = [], [], [], []
    for batch_images, batch_labels, batch_ids in data.make_dataset(data_dir, split, channels, training=False,
                                                                   cache=False, with_ids=True):
        probabilities.append(model.predict_on_batch(batch_images))
        labels.append(batch_labels.numpy())
        images.append((batch_images.numpy() * 255).astype(np.uint8))
        ids += [i.decode('utf-8') for i in batch_ids.numpy()]
    return np.concatenate(labels), np.concatenate(probabilities), np.concatenate(images), ids


def load_attributes(model_dir):
    """The attributes a full-labels model of a model dir predicts (rules/attributes.py), or None (a model trained
    before it had attribute heads, or an image-only one)."""
    path = os.path.join(model_dir, artifacts.ATTRIBUTES)
    return attributes_lib.Attributes.from_json(files.read_text(path)) if tf.io.gfile.exists(path) else None


def load_trained(model_dir):
    """(the trained Keras model of a model dir, its leaves when it is a full-labels model, else None)."""
    import keras  # pylint: disable=import-outside-toplevel
    model = keras.models.load_model(os.path.join(model_dir, artifacts.MODEL_FILE), compile=False)
    path = os.path.join(model_dir, artifacts.LEAVES)
    return model, (leaves_lib.Leaves.from_json(files.read_text(path)) if tf.io.gfile.exists(path) else None)


def predict_ids(model, data_dir, split, leaves=None, temperature=1.0):
    """(ids, true Class indices, calibrated Class probabilities) of a split, in file order: the probabilities
    scaled by `temperature`, or for a full-labels model (`leaves`) the sum of its fused head's scaled leaves."""
    ids, labels, probabilities = [], [], []
    if leaves is not None:
        for batch in data.labelled_batches(data_dir, split, model.input['image'].shape[-1]):
            fused = model.predict_on_batch({'image': batch['image'], 'name': batch['productDisplayName']})['fused']
            probabilities.append(leaves.level_probabilities(calibration.scale(np.asarray(fused), temperature),
                                                            'Class'))
            labels.append(batch['class_index'].numpy())
            ids += [i.decode('utf-8') for i in batch['id'].numpy()]
    else:
        for images, batch_labels, batch_ids in data.make_dataset(data_dir, split, model.input_shape[-1],
                                                                 cache=False, with_ids=True):
            probabilities.append(calibration.scale(model.predict_on_batch(images), temperature))
            labels.append(batch_labels.numpy())
            ids += [i.decode('utf-8') for i in batch_ids.numpy()]
    if not ids:
        width = len(leaves.classes) if leaves is not None else model.output_shape[-1]
        return [], np.zeros(0, int), np.zeros((0, width))
    return ids, np.concatenate(labels), np.concatenate(probabilities)


def split_metrics(y_true, probabilities, num_classes):
    y_pred = probabilities.argmax(axis=1)
    out = {'loss': float(sk_metrics.log_loss(y_true, probabilities, labels=list(range(num_classes)))),
           'accuracy': float(sk_metrics.accuracy_score(y_true, y_pred)), 'examples': int(len(y_true))}
    for average in ('macro', 'weighted'):
        p, r, f, _ = sk_metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=list(range(num_classes)), average=average, zero_division=0)
        out.update({f'{average}_precision': float(p), f'{average}_recall': float(r), f'{average}_f1': float(f)})
    return out


def plot_confusion(y_true, y_pred, classes, path):
    fig, ax = plt.subplots(figsize=(14, 12))
    sk_metrics.ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(classes))), display_labels=list(classes), normalize='true',
        include_values=False, cmap='Blues', xticks_rotation='vertical', ax=ax)
    ax.set_title('Confusion matrix, test split (rows normalised)')
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format='png')
    plt.close(fig)
    files.write_bytes(path, buffer.getvalue(), 'image/png')


def plot_misclassified(images, y_true, y_pred, classes, path):
    wrong = np.flatnonzero(y_true != y_pred)[:MISCLASSIFIED_SHOWN]
    figures.image_grid(list(wrong), path, 'Misclassified test images',
                       lambda i: f'true: {classes[y_true[i]]}\npred: {classes[y_pred[i]]}', columns=5,
                       image=lambda i: images[i].squeeze())


def report_text(report):
    """sklearn's classification report dict as a text table (the dict is computed once, for both files)."""
    frame = pd.DataFrame({name: row for name, row in report.items() if isinstance(row, dict)}).T
    frame['support'] = frame['support'].astype(int)
    accuracy = f'\naccuracy {report["accuracy"]:.3f}\n' if 'accuracy' in report else '\n'
    return frame.to_string(float_format=lambda v: f'{v:.3f}') + accuracy


def blessing(test_accuracy, min_accuracy, baseline_model_dir, tolerance):
    """Blessed when test accuracy reaches the floor and is not worse than the baseline's by > tolerance."""
    reasons = []
    if test_accuracy < min_accuracy:
        reasons.append(f'test accuracy {test_accuracy:.4f} is below {min_accuracy:.4f}')
    baseline_accuracy = None
    if baseline_model_dir:
        path = os.path.join(baseline_model_dir, artifacts.METRICS)
        if not tf.io.gfile.exists(path):
            raise UserError(f'--baseline-model {baseline_model_dir!r} has no {artifacts.METRICS}')
        baseline_accuracy = files.read_json(path)['test.accuracy']
        if test_accuracy < baseline_accuracy - tolerance:
            reasons.append(f'test accuracy {test_accuracy:.4f} is worse than the baseline '
                           f'{baseline_accuracy:.4f} by more than {tolerance}')
    return {'blessed': not reasons, 'reasons': reasons, 'test_accuracy': test_accuracy,
            'min_accuracy': min_accuracy, 'baseline_model': baseline_model_dir,
            'baseline_test_accuracy': baseline_accuracy, 'tolerance': tolerance}


CONFUSABLE_PAIRS_SHOWN = 12


def confusable_pairs(y_true, probabilities, classes):
    """The class pairs the model confuses most (true -> predicted), with the mean probability it gives the
    true class on those items: confusable pairs keep it well above the flag's threshold."""
    y_pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(y_true != y_pred)
    pairs = pd.DataFrame({'true': y_true[wrong], 'predicted': y_pred[wrong],
                          'own': probabilities[wrong, y_true[wrong]]})
    grouped = pairs.groupby(['true', 'predicted'])['own'].agg(['size', 'mean']).sort_values('size', ascending=False)
    support = np.bincount(y_true, minlength=len(classes))
    return [{'given': classes[t], 'predicted': classes[p], 'count': int(row['size']),
             'share_of_given': float(row['size'] / support[t]), 'mean_given_class_probability': float(row['mean'])}
            for (t, p), row in grouped.head(CONFUSABLE_PAIRS_SHOWN).iterrows()]


def calibrate(outputs, classes, groups):
    """Fits the temperature and the flag threshold on val; returns (metrics, calibration.json's dict)."""
    (val_y, val_p), (test_y, test_p) = outputs['val'], outputs['test']
    temperature = calibration.fit_temperature(val_p, val_y)
    val_c, test_c = calibration.scale(val_p, temperature), calibration.scale(test_p, temperature)
    flag = flag_fit.fit_flag_threshold(val_c, val_y, [groups[name] for name in classes])
    metrics = {'calibration.temperature': temperature, 'flag.max_given_probability': flag['max_given_probability']}
    for split, y, raw, calibrated in (('val', val_y, val_p, val_c), ('test', test_y, test_p, test_c)):
        metrics.update({f'{split}.nll_uncalibrated': calibration.nll(raw, y),
                        f'{split}.nll': calibration.nll(calibrated, y),
                        f'{split}.ece_uncalibrated': calibration.ece(raw, y),
                        f'{split}.ece': calibration.ece(calibrated, y)})
    details = {'temperature': temperature, 'fitted_on': 'val', 'flag': flag,
               'test_reliability': {'uncalibrated': calibration.reliability(test_p, test_y),
                                    'calibrated': calibration.reliability(test_c, test_y)},
               'test_risk_coverage': calibration.risk_coverage(test_c, test_y),
               'val_confusable_pairs': confusable_pairs(val_y, val_c, classes)}
    return metrics, details


def evaluate_full_labels(model, data_dir, model_dir, classes, leaves, min_accuracy=0.0, baseline_model_dir=None,
                         tolerance=0.01, flip_test=False, attributes=None):
    """evaluate() for the full-labels model (trainer/full_labels.py): the same files, the Class-level figures under
    the same keys (so blessing, retrain and the report compare any two models), and per level and head besides.
    The classification report and the misclassified grid are at articleType level. Returns (metrics, the test
    split's predictions: ids, leaf, known, class_index and each head's calibrated leaf probabilities, with
    `flip_test` the fused head's on mirrored images too). With `attributes`, the attribute heads' figures, their
    temperatures and flag fits too (trainer/attribute_eval.py; calibration.json's 'attributes')."""
    outputs = full_labels.evaluate_splits(model, data_dir, leaves, flip_test, attributes)
    metrics, report_dicts, reports = {}, {}, []
    for split in SPLITS:
        out = outputs[split]
        class_p = leaves.level_probabilities(out['fused'], 'Class')
        metrics.update({f'{split}.{k}': v for k, v in split_metrics(out['class_index'], class_p, len(classes)).items()})
        metrics.update(full_labels.split_scores(out, leaves, split))
        if attributes:
            metrics.update(attribute_eval.scores(out, attributes, split))
        known = out['known']
        y_true, y_pred = out['leaf'][known], out['fused'][known].argmax(axis=1)
        report_dicts[split] = sk_metrics.classification_report(
            y_true, y_pred, labels=list(range(len(leaves.article_types))), target_names=list(leaves.article_types),
            zero_division=0, output_dict=True)
        reports.append(f'== {split} ({int(known.sum())} images of a known articleType) ==\n'
                       + report_text(report_dicts[split]))
    test = outputs['test']
    class_pred = leaves.level_probabilities(test['fused'], 'Class').argmax(axis=1)
    matrix = sk_metrics.confusion_matrix(test['class_index'], class_pred, labels=list(range(len(classes))))
    frame = pd.DataFrame(matrix, index=pd.Index(classes, name='true \\ predicted'), columns=classes)
    files.write_text(os.path.join(model_dir, artifacts.CONFUSION_MATRIX_CSV), frame.to_csv())
    plot_confusion(test['class_index'], class_pred, classes, os.path.join(model_dir, artifacts.CONFUSION_MATRIX_PNG))
    known = np.flatnonzero(test['known'])
    plot_misclassified(test['images'][known], test['leaf'][known], test['fused'][known].argmax(axis=1),
                       leaves.article_types, os.path.join(model_dir, artifacts.MISCLASSIFIED))
    metrics.update({f'model.{k}': v for k, v in cost.model_cost(model).items()})
    taxonomy = Taxonomy.from_dict(files.read_json(os.path.join(data_dir, artifacts.TAXONOMY)))
    calibration_metrics, details, calibrated = full_labels.calibrate(outputs, leaves, taxonomy.master_categories())
    metrics.update(calibration_metrics)
    if attributes:
        attribute_metrics, details['attributes'], calibrated_attributes = attribute_eval.calibrate(outputs, attributes)
        metrics.update(attribute_metrics)
        for split in ('val', 'test'):
            metrics.update({f'calibrated.{k}': v for k, v in attribute_eval.scores(
                outputs[split], attributes, split, calibrated_attributes[split]).items() if k.endswith('accuracy')})
    val_known = outputs['val']['known']  # the pairs of articleTypes the model confuses most
    details['val_confusable_pairs'] = confusable_pairs(outputs['val']['leaf'][val_known],
                                                       calibrated['val']['fused'][val_known], leaves.article_types)
    for split in ('val', 'test'):
        metrics.update({f'calibrated.{k}': v for k, v in
                        full_labels.split_scores(outputs[split], leaves, split, calibrated[split]).items()
                        if k.endswith('accuracy')})
    _write_evaluation(model_dir, metrics, details, reports, report_dicts,
                      blessing(metrics['test.accuracy'], min_accuracy, baseline_model_dir, tolerance))
    held_out = {key: test[key] for key in ('id', 'leaf', 'known', 'class_index')}
    held_out.update(calibrated['test'])
    if flip_test:
        held_out[full_labels.FLIPPED] = calibration.scale(test[full_labels.FLIPPED], details['temperature'])
    return metrics, held_out


def _write_evaluation(model_dir, metrics, details, reports, report_dicts, blessed):
    files.write_json(os.path.join(model_dir, artifacts.CALIBRATION), details)
    files.write_json(os.path.join(model_dir, artifacts.METRICS), dict(sorted(metrics.items())))
    files.write_text(os.path.join(model_dir, artifacts.CLASSIFICATION_REPORT_TXT), '\n'.join(reports))
    files.write_json(os.path.join(model_dir, artifacts.CLASSIFICATION_REPORT_JSON), report_dicts)
    files.write_json(os.path.join(model_dir, artifacts.BLESSING), blessed)


def evaluate(model, data_dir, model_dir, classes, min_accuracy=0.0, baseline_model_dir=None, tolerance=0.01):
    """Writes the evaluation files into `model_dir`; returns (the metrics dict, the test split's predictions:
    ids, class_index and calibrated probabilities)."""
    channels = model.input_shape[-1]
    metrics, reports, report_dicts, outputs = {}, [], {}, {}
    for split in SPLITS:
        y_true, probabilities, images, ids = predict_split(model, data_dir, split, channels)
        outputs[split] = y_true, probabilities
        metrics.update({f'{split}.{k}': v for k, v in split_metrics(y_true, probabilities, len(classes)).items()})
        y_pred = probabilities.argmax(axis=1)
        report_dicts[split] = sk_metrics.classification_report(
            y_true, y_pred, labels=list(range(len(classes))), target_names=list(classes), zero_division=0,
            output_dict=True)
        reports.append(f'== {split} ({len(y_true)} images) ==\n' + report_text(report_dicts[split]))
        if split == 'test':
            matrix = sk_metrics.confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
            frame = pd.DataFrame(matrix, index=pd.Index(classes, name='true \\ predicted'), columns=classes)
            files.write_text(os.path.join(model_dir, artifacts.CONFUSION_MATRIX_CSV), frame.to_csv())
            plot_confusion(y_true, y_pred, classes, os.path.join(model_dir, artifacts.CONFUSION_MATRIX_PNG))
            plot_misclassified(images, y_true, y_pred, classes, os.path.join(model_dir, artifacts.MISCLASSIFIED))
    metrics.update({f'model.{k}': v for k, v in cost.model_cost(model).items()})
    taxonomy = Taxonomy.from_dict(files.read_json(os.path.join(data_dir, artifacts.TAXONOMY)))
    calibration_metrics, details = calibrate(outputs, classes, taxonomy.master_categories())
    metrics.update(calibration_metrics)
    _write_evaluation(model_dir, metrics, details, reports, report_dicts,
                      blessing(metrics['test.accuracy'], min_accuracy, baseline_model_dir, tolerance))
    test_y, test_p = outputs['test']
    return metrics, {'id': ids, 'class_index': test_y,
                     'probabilities': calibration.scale(test_p, details['temperature'])}


def add_blessing_flags(parser):
    parser.add_argument('--bless-min-accuracy', type=float, default=0.85,
                        help='test accuracy a model needs to be blessed (default 0.85)')
    parser.add_argument('--baseline-model', help='model dir to compare with: not blessed if worse by more '
                                                 'than --bless-tolerance')
    parser.add_argument('--bless-tolerance', type=float, default=0.01)


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline evaluate',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--data', required=True, help='the prepare job output the model was trained on')
    parser.add_argument('--model-dir', required=True)
    parser.add_argument('--export', action='store_true',
                        help='also write a new export version (MODEL_DIR/export/<version>) with this calibration')
    add_blessing_flags(parser)
    args = parser.parse_args(argv)
    files.check_paths(args, folders=['data', 'model_dir', 'baseline_model'])
    _, classes = data.read_prepared(args.data)
    path = os.path.join(args.model_dir, artifacts.MODEL_FILE)
    if not tf.io.gfile.exists(path):
        raise UserError(f'no trained model at {path}')
    model, leaves = load_trained(args.model_dir)
    attributes = load_attributes(args.model_dir)
    if attributes:  # the declared neighbours as they are now: the flags are refitted with them
        attributes = attributes_lib.regroup(attributes, attributes_lib.load_groups())
        files.write_text(os.path.join(args.model_dir, artifacts.ATTRIBUTES), attributes.to_json())
    if leaves is None:
        metrics, _ = evaluate(model, args.data, args.model_dir, classes, args.bless_min_accuracy, args.baseline_model,
                              args.bless_tolerance)
    else:
        metrics, _ = evaluate_full_labels(model, args.data, args.model_dir, classes, leaves, args.bless_min_accuracy,
                                          args.baseline_model, args.bless_tolerance, attributes=attributes)
    print(json.dumps({k: round(v, 4) for k, v in metrics.items()
                      if k.endswith(('accuracy', 'macro_f1', 'ece', 'temperature', 'probability'))}))
    if args.export:
        path = export.export_trained(model, args.data, args.model_dir, classes, metrics, vars(args), leaves, attributes)
        print(f'exported {path}')


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['evaluate', *sys.argv[1:]]))
