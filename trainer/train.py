"""Train: the prepared TFRecords -> a trained, evaluated and exported model.

    fashion-pipeline train --data PREPARED_DIR --model-dir DIR [--epochs N] [--color-mode rgb|grayscale]
                           [--model seed_cnn] [--class-weight none|balanced] [--resume]

Keeps in the model dir: model.keras (the best epoch by validation accuracy), checkpoints/, backup/ (what
--resume continues from), logs/ (TensorBoard), training_log.csv (one row per epoch), the evaluation files
(see trainer.evaluate) and export/<version>/, the serving SavedModel.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from pipelines.errors import UserError
from trainer import data, evaluate, export, features, model as model_lib, precise_bn

TRAINING_LOG = 'training_log.csv'
PRECISE_BN_STEPS = 150


def code_revision():
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def class_weights(manifest, classes):
    """Balanced weights (n / (k * count)) from the train split's class counts in the manifest."""
    counts = manifest['class_counts']['train']
    y = np.concatenate([np.full(counts.get(name, 0), i) for i, name in enumerate(classes)])
    present = np.unique(y)
    weights = compute_class_weight('balanced', classes=present, y=y)
    return {int(i): float(w) for i, w in zip(present, weights)}


def _best_logged_accuracy(log_path):
    if not tf.io.gfile.exists(log_path):
        return None
    with tf.io.gfile.GFile(log_path) as f:
        values = [float(row['val_accuracy']) for row in csv.DictReader(f) if row.get('val_accuracy')]
    return max(values) if values else None


def callbacks(model_dir, patience, resume):
    log_path = os.path.join(model_dir, TRAINING_LOG)
    best = _best_logged_accuracy(log_path) if resume else None
    return [
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, 'backup')),
        keras.callbacks.ModelCheckpoint(os.path.join(model_dir, 'checkpoints', 'best.keras'),
                                        monitor='val_accuracy', mode='max', save_best_only=True,
                                        initial_value_threshold=best),
        keras.callbacks.EarlyStopping(monitor='val_accuracy', mode='max', patience=patience,
                                      restore_best_weights=True),
        keras.callbacks.TensorBoard(os.path.join(model_dir, 'logs')),
        keras.callbacks.CSVLogger(log_path, append=resume),
    ]


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline train', description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='a prepare job output folder')
    parser.add_argument('--model-dir', required=True)
    parser.add_argument('--epochs', type=int, default=15)
    parser.add_argument('--color-mode', choices=sorted(features.CHANNELS), default='rgb')
    parser.add_argument('--model', choices=sorted(model_lib.MODELS), default='seed_cnn')
    parser.add_argument('--class-weight', choices=('none', 'balanced'), default='none')
    parser.add_argument('--batch-size', type=int, default=data.BATCH_SIZE)
    parser.add_argument('--learning-rate', type=float, default=1e-3)
    parser.add_argument('--bn-momentum', type=float, default=model_lib.BN_MOMENTUM,
                        help='BatchNormalization momentum (default 0.99, the seed\'s; 0.9 for runs of a few '
                             'hundred steps, whose moving averages would not settle)')
    parser.add_argument('--precise-bn-steps', type=int, default=PRECISE_BN_STEPS,
                        help='before each validation, recompute the BatchNorm statistics over this many training '
                             'batches with the weights frozen (trainer/precise_bn.py); 0 validates with Keras\' '
                             f'moving averages (default {PRECISE_BN_STEPS})')
    parser.add_argument('--patience', type=int, default=4, help='epochs without val accuracy gain to stop')
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--resume', action='store_true', help='continue an interrupted run in --model-dir')
    evaluate.add_blessing_flags(parser)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.precise_bn_steps < 0:
        parser.error('--epochs and --batch-size must be at least 1, --precise-bn-steps at least 0')
    return args


def run(argv=None):
    args = parse_args(argv)
    manifest_text, classes = data.read_prepared(args.data)
    backup = os.path.join(args.model_dir, 'backup')
    if tf.io.gfile.exists(backup) and not args.resume:
        raise UserError(f'{args.model_dir} holds an interrupted run: pass --resume, or use a new --model-dir')
    if args.resume and not tf.io.gfile.exists(backup):
        raise UserError(f'nothing to resume in {args.model_dir} (no backup/ folder)')
    tf.io.gfile.makedirs(args.model_dir)
    keras.utils.set_random_seed(args.seed)
    channels = features.CHANNELS[args.color_mode]
    train_data = data.make_dataset(args.data, 'train', channels, training=True, batch_size=args.batch_size,
                                   seed=args.seed)
    val_data = data.make_dataset(args.data, 'val', channels, batch_size=args.batch_size)
    model = model_lib.build(args.model, len(classes), channels, args.learning_rate, args.bn_momentum)
    weights = class_weights(json.loads(manifest_text), classes) if args.class_weight == 'balanced' else None
    fit_callbacks = callbacks(args.model_dir, args.patience, args.resume)
    if args.precise_bn_steps:
        recalibration_data = data.make_dataset(args.data, 'train', channels, training=True,
                                               batch_size=args.batch_size, cache=False, seed=args.seed + 1)
        fit_callbacks.insert(0, precise_bn.PreciseValidation(recalibration_data, val_data, args.precise_bn_steps))
    model.fit(train_data, validation_data=None if args.precise_bn_steps else val_data, epochs=args.epochs,
              class_weight=weights, callbacks=fit_callbacks, verbose=2)
    best = keras.models.load_model(os.path.join(args.model_dir, 'checkpoints', 'best.keras'))
    best.save(os.path.join(args.model_dir, model_lib.MODEL_FILE))
    metrics = evaluate.evaluate(best, args.data, args.model_dir, classes, args.bless_min_accuracy,
                                args.baseline_model, args.bless_tolerance)
    with tf.io.gfile.GFile(os.path.join(args.data, 'taxonomy.json')) as f:
        taxonomy_text = f.read()
    path = export.export(best, classes, channels, os.path.join(args.model_dir, 'export'), {
        'labels.txt': ''.join(f'{name}\n' for name in classes),
        'taxonomy.json': taxonomy_text,
        'lineage.json': export.lineage(manifest_text, vars(args), code_revision()),
    })
    print(f'trained {args.model}: test accuracy {metrics["test.accuracy"]:.4f}, val accuracy '
          f'{metrics["val.accuracy"]:.4f}, val macro F1 {metrics["val.macro_f1"]:.4f}; exported {path}')
    return metrics, path


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['train', *sys.argv[1:]]))
