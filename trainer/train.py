"""Train: the prepared TFRecords -> a trained, evaluated and exported model.

    fashion-pipeline train --data PREPARED_DIR --model-dir DIR [--model resnet|seed_cnn]
                           [--color-mode rgb|grayscale] [--class-weight none|balanced] [--resume]
                           [training recipe flags, defaults per model: trainer/recipe.py]

Keeps in the model dir: model.keras (the best epoch by validation accuracy), checkpoints/, backup/ (what
--resume continues from), logs/ (TensorBoard), training_log.csv (one row per epoch), the evaluation files
(see trainer.evaluate) and export/<version>/, the serving SavedModel.
"""
import argparse
import csv
import dataclasses
import json
import os
import platform
import sys
import time
from typing import NamedTuple, Optional

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import attributes as attributes_lib, leaves as leaves_lib
from pipelines.rules.taxonomy import Taxonomy
from pipelines.storage import files
from trainer import data, evaluate, export, features, model as model_lib, precise_bn, precision, recipe as recipes

PRECISE_BN_STEPS = 50


def class_weights(manifest, classes):
    """Balanced weights (n / (k * count)) from the train split's class counts in the manifest."""
    counts = manifest['class_counts']['train']
    y = np.concatenate([np.full(counts.get(name, 0), i) for i, name in enumerate(classes)])
    present = np.unique(y)
    weights = compute_class_weight('balanced', classes=present, y=y)
    return {int(i): float(w) for i, w in zip(present, weights)}


def monitored(model_name):
    """The validation metric that picks the best epoch: the Class accuracy, or the full-labels model's fused
    head's articleType accuracy."""
    return 'val_fused_accuracy' if model_name in model_lib.FULL_LABELS else 'val_accuracy'


def _best_logged_accuracy(log_path, monitor):
    if not tf.io.gfile.exists(log_path):
        return None
    with tf.io.gfile.GFile(log_path) as f:
        values = [float(row[monitor]) for row in csv.DictReader(f) if row.get(monitor)]
    return max(values) if values else None


def cpu_model():
    """The CPU's model name, recorded with every timing (figures compare only on one machine)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def write_training_run(args, recipe, policy, wall_seconds):
    """artifacts.TRAINING_RUN: how the model dir's model was made, for `make bench`'s model table. The wall time runs
    from the start of training to the exported model, evaluation included, for this invocation (a
    --resume run says so: its earlier part is not counted)."""
    log_path = os.path.join(args.model_dir, artifacts.TRAINING_LOG)
    with tf.io.gfile.GFile(log_path) as f:
        accuracies = [float(row[monitored(args.model)]) for row in csv.DictReader(f)]
    run_figures = {'model': args.model, 'epochs': len(accuracies), 'best_epoch': int(np.argmax(accuracies)) + 1,
                   'wall_seconds': round(wall_seconds, 1), 'resumed': args.resume, 'cpu': cpu_model(),
                   'cpu_count': os.cpu_count(), 'precision': policy, 'architecture': architecture(args),
                   'recipe': dataclasses.asdict(recipe)}
    files.write_json(os.path.join(args.model_dir, artifacts.TRAINING_RUN), run_figures)


def callbacks(model_dir, patience, resume, monitor='val_accuracy'):
    log_path = os.path.join(model_dir, artifacts.TRAINING_LOG)
    best = _best_logged_accuracy(log_path, monitor) if resume else None
    stop = [keras.callbacks.EarlyStopping(monitor=monitor, mode='max', patience=patience,
                                          restore_best_weights=True)] if patience else []
    return [
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, artifacts.BACKUP)),
        keras.callbacks.ModelCheckpoint(os.path.join(model_dir, artifacts.BEST_CHECKPOINT),
                                        monitor=monitor, mode='max', save_best_only=True,
                                        initial_value_threshold=best),
        *stop,
        keras.callbacks.TensorBoard(os.path.join(model_dir, 'logs')),
        keras.callbacks.CSVLogger(log_path, append=resume),
    ]


class OneLineParser(argparse.ArgumentParser):
    """A parser whose errors are a UserError (one line on stderr, exit 2) rather than usage text: for a command
    that checks the train flags it passes through before doing any work (audit, retrain)."""

    def error(self, message):
        raise UserError(f'{self.prog}: {message}')


def parse_args(argv, parser_class=argparse.ArgumentParser, prog='fashion-pipeline train'):
    """The train flags as an argparse Namespace (what `train` takes), checked against each other."""
    parser = parser_class(prog=prog, description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--data', required=True, help='a prepare job output folder')
    parser.add_argument('--model-dir', required=True)
    parser.add_argument('--model', choices=sorted(model_lib.MODELS), default=model_lib.DEFAULT_MODEL,
                        help=f'the architecture (default: {model_lib.DEFAULT_MODEL}); it also picks the '
                             'training recipe\'s defaults')
    parser.add_argument('--color-mode', choices=sorted(features.CHANNELS), default='rgb', help='(default: rgb)')
    parser.add_argument('--class-weight', choices=('none', 'balanced'), default='none', help='(default: none)')
    parser.add_argument('--precise-bn-steps', type=int, default=PRECISE_BN_STEPS,
                        help='before each validation, recompute the BatchNorm statistics over this many training '
                             'batches with the weights frozen (trainer/precise_bn.py); 0 validates with Keras\' '
                             f'moving averages (default {PRECISE_BN_STEPS})')
    parser.add_argument('--first-stage-width', type=int, default=None,
                        help=f'resnet only: channels of its full-resolution first stage, where most multiply-adds '
                             f'sit (default: {model_lib.RESNET_WIDTHS[0]})')
    parser.add_argument('--without-attributes', action='store_true',
                        help='the full-labels model without its gender, colour, usage and season heads')
    parser.add_argument('--seed', type=int, default=42, help='(default: 42)')
    parser.add_argument('--resume', action='store_true', help='continue an interrupted run in --model-dir')
    recipes.add_flags(parser)
    evaluate.add_blessing_flags(parser)
    args = parser.parse_args(argv)
    problem = recipes.check(recipes.resolve(args))
    if problem or args.precise_bn_steps < 0:
        parser.error(problem or '--precise-bn-steps must be at least 0')
    if args.first_stage_width is not None and (args.model not in ('resnet', 'fused') or args.first_stage_width < 1):
        parser.error('--first-stage-width takes a positive width, and only with --model resnet or fused')
    if args.model not in model_lib.FULL_LABELS and (args.distillation or args.image_loss_weight not in (None, 1)):
        parser.error('--distillation and --image-loss-weight apply to the full-labels model\'s heads')
    if args.class_weight == 'balanced' and args.model in model_lib.FULL_LABELS:
        parser.error('--class-weight balanced weighs Classes: it applies to the image-only models')
    return args


def architecture(args):
    """The keyword arguments of the model function that the flags change."""
    if args.first_stage_width is None:
        return {}
    return {'widths': (args.first_stage_width, *model_lib.RESNET_WIDTHS[1:])}


def fit_leaves(data_dir, classes):
    """The full-labels model's leaves (rules/leaves.py), the training split's names (its text vocabularies) and
    its attributes' values (rules/attributes.py)."""
    counts, names, values = data.train_counts(data_dir)
    taxonomy = Taxonomy.from_dict(files.read_json(os.path.join(data_dir, artifacts.TAXONOMY)))
    leaves = leaves_lib.fit(counts, classes, lambda *labels: taxonomy.classify(*labels)[0])
    return leaves, names, attributes_lib.fit(values, attributes_lib.load_groups())


def fit(args, recipe, policy, classes, manifest, leaves=None, names=(), attributes=None):
    """Trains `args.model` with `recipe` under dtype policy `policy`; returns the best epoch's model (by validation
    accuracy), in float32. A full-labels model learns `leaves` and `attributes`, with text vocabularies fitted on
    `names`."""
    channels = features.CHANNELS[args.color_mode]
    augment = recipes.augmentation(recipe, channels)
    train_data = data.make_dataset(args.data, 'train', channels, training=True, batch_size=recipe.batch_size,
                                   seed=args.seed, augment=augment, leaves=leaves, attributes=attributes)
    val_data = data.make_dataset(args.data, 'val', channels, batch_size=recipe.batch_size, leaves=leaves,
                                 attributes=attributes)
    total_steps = recipe.epochs * recipes.steps_per_epoch(recipe, sum(manifest['class_counts']['train'].values()))
    if leaves is None:
        outputs, shape = len(classes), architecture(args)
    else:
        outputs, shape = len(leaves.article_types), dict(architecture(args), names=names, attributes={
            name: len(values) for name, values in attributes.values.items()} if attributes else None)
    model = recipes.compiled_model(args.model, outputs, channels, recipe, total_steps, policy, shape)
    weights = class_weights(manifest, classes) if args.class_weight == 'balanced' else None
    fit_callbacks = callbacks(args.model_dir, recipe.patience, args.resume, monitored(args.model))
    if args.precise_bn_steps:
        recalibration_data = data.make_dataset(args.data, 'train', channels, training=True,
                                               batch_size=recipe.batch_size, cache=False, seed=args.seed + 1,
                                               augment=augment, leaves=leaves, attributes=attributes)
        fit_callbacks.insert(0, precise_bn.PreciseValidation(recalibration_data, val_data, args.precise_bn_steps))
    if recipe.ema_momentum:  # first: validation, checkpoints and the export see the averaged weights
        fit_callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    fit_callbacks.append(EpochLine(monitored(args.model)))
    model.fit(train_data, validation_data=None if args.precise_bn_steps else val_data, epochs=recipe.epochs,
              class_weight=weights, callbacks=fit_callbacks, verbose=0)
    best = keras.models.load_model(os.path.join(args.model_dir, artifacts.BEST_CHECKPOINT), compile=False)
    return precision.as_float32(best)


class EpochLine(keras.callbacks.Callback):
    """One line per epoch, in place of Keras' own progress output: the monitored accuracy on training and
    validation, the validation loss and the epoch's wall time. Listed after PreciseValidation, so the validation
    figures are those of the recalibrated model."""

    def __init__(self, monitor):
        super().__init__()
        self._monitor, self._started = monitor, None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        trained = self._monitor[len('val_'):]
        print(f'epoch {epoch + 1}/{self.params["epochs"]}: {trained} {logs.get(trained, float("nan")):.4f}, '
              f'{self._monitor} {logs.get(self._monitor, float("nan")):.4f}, val_loss '
              f'{logs.get("val_loss", float("nan")):.4f}, {time.time() - self._started:.0f} s', flush=True)


class Trained(NamedTuple):
    """What a training hands back: its metrics, the export's path, and the test split's calibrated predictions
    (trainer.evaluate), which the audit's fold models give for the fold they audit: no second predict pass."""
    metrics: dict
    export_path: str
    test_predictions: dict
    leaves: Optional[leaves_lib.Leaves]


def run(argv=None):
    """The command: (metrics, export path)."""
    trained = train(parse_args(argv))
    metrics = trained.metrics
    levels = (f'articleType {metrics["test.article_type.accuracy"]:.4f}, subCategory '
              f'{metrics["test.sub_category.accuracy"]:.4f}, Class ' if trained.leaves else '')
    print(f'trained: test accuracy {levels}{metrics["test.accuracy"]:.4f}, val accuracy '
          f'{metrics["val.accuracy"]:.4f}, val macro F1 {metrics["val.macro_f1"]:.4f}; exported {trained.export_path}')
    return trained.metrics, trained.export_path


def train(args: argparse.Namespace, flip_test: bool = False) -> Trained:
    """Trains, evaluates and exports as the command does, from parse_args' Namespace; returns a Trained. With
    `flip_test` a full-labels model also predicts the test split's mirrored images (the audit's test-time
    flips)."""
    files.check_paths(args, folders=['data', 'baseline_model', 'model_dir'])
    manifest_text, classes = data.read_prepared(args.data)
    backup = os.path.join(args.model_dir, artifacts.BACKUP)
    if tf.io.gfile.exists(backup) and not args.resume:
        raise UserError(f'{args.model_dir} holds an interrupted run: pass --resume, or use a new --model-dir')
    if args.resume and not tf.io.gfile.exists(backup):
        raise UserError(f'nothing to resume in {args.model_dir} (no backup/ folder)')
    tf.io.gfile.makedirs(args.model_dir)
    # Grappler's AddOpsRewrite turns the sum of the full-labels model's three losses into an AccumulateNV2 whose
    # per-step temporary variable can collide between steps ("AlreadyExistsError ... AddOpsRewrite ... tmp_var" at
    # the second epoch on the real catalog; tensorflow/tensorflow#23780): that optimization stays off.
    tf.config.optimizer.set_experimental_options({'arithmetic_optimization': False})
    keras.utils.set_random_seed(args.seed)  # Python, NumPy, TensorFlow and Keras' own seed generators
    tf.config.experimental.enable_op_determinism()  # the same seed and data give the same model
    recipe = recipes.resolve(args)
    policy = precision.resolve(recipe.precision)
    leaves, names, attributes = (fit_leaves(args.data, classes) if args.model in model_lib.FULL_LABELS
                                 else (None, (), None))
    attributes = None if args.without_attributes else attributes
    described = (f' over {int((~leaves.is_other()).sum())} articleTypes and {int(leaves.is_other().sum())} other leaves'
                 f', with {", ".join(attributes.values) if attributes else "no attributes"}' if leaves else '')
    recalibrated = (f', BatchNorm statistics recomputed over {args.precise_bn_steps} training batches before each '
                    'validation' if args.precise_bn_steps else '')
    print(f'training {args.model}{described} in {policy} on {cpu_model()}{recalibrated}', flush=True)
    started = time.time()
    best = fit(args, recipe, policy, classes, json.loads(manifest_text), leaves, names, attributes)
    best.save(os.path.join(args.model_dir, artifacts.MODEL_FILE))
    if leaves is None:
        metrics, held_out = evaluate.evaluate(best, args.data, args.model_dir, classes, args.bless_min_accuracy,
                                              args.baseline_model, args.bless_tolerance)
    else:
        files.write_text(os.path.join(args.model_dir, artifacts.LEAVES), leaves.to_json())
        if attributes:
            files.write_text(os.path.join(args.model_dir, artifacts.ATTRIBUTES), attributes.to_json())
        metrics, held_out = evaluate.evaluate_full_labels(
            best, args.data, args.model_dir, classes, leaves, args.bless_min_accuracy, args.baseline_model,
            args.bless_tolerance, flip_test, attributes)
    path = export.export_trained(best, args.data, args.model_dir, classes, metrics,
                                 {**vars(args), **dataclasses.asdict(recipe)}, leaves, attributes)
    write_training_run(args, recipe, policy, time.time() - started)
    return Trained(metrics, path, held_out, leaves)


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['train', *sys.argv[1:]]))
