"""Retrain: prepare (with the reviewers' overrides), train, evaluate, compare with the model in use, publish a
new model release, and move MODELS/CURRENT to it only when it is blessed and not worse.

    fashion-pipeline retrain --catalog DIR --models MODELS_DIR [--overrides FILE] [--attribute-overrides FILE]
                             [--tolerance 0.01]
                             [--bless-min-accuracy 0.85] [--prepare-option OPT ...] [train flags: --epochs N ...]

1. prepare into MODELS/<version>/prepared/ (the content-hash split: items keep their split as the catalog grows);
2. train the default model with its recipe (other `train` flags pass through), evaluate, calibrate, export;
3. evaluate the model CURRENT names on the same new test split;
4. publish MODELS/<version>/ whole (retrain.json last: what, from which catalog and overrides, how it compared);
5. move CURRENT to it in one step only if it is blessed and its test accuracy is at least the current one's
   minus --tolerance; otherwise CURRENT stays and retrain.json and the output say why.
Writes MODELS/metrics.prom (Prometheus textfile) either way. The first retrain into an empty MODELS folder
promotes a blessed model. See `fashion-pipeline models` to list versions, roll back or promote by hand.
"""
import argparse
import hashlib
import os
import shutil
import sys
import time

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.jobs import arguments, prepare
from pipelines.rules import taxonomy as taxonomy_lib
from pipelines.storage import files, models, prometheus, publish, state


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline retrain',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--models', required=True, help='the models folder (MODELS/CURRENT, MODELS/<version>/)')
    parser.add_argument('--overrides', help="a label_overrides.csv of reviewers' decisions (review --export-overrides)")
    parser.add_argument('--attribute-overrides', help="an attribute_overrides.csv of reviewers' decisions on flagged "
                                                      'attributes (review --export-attribute-overrides)')
    parser.add_argument('--tolerance', type=arguments.fraction, default=0.01,
                        help='promote only if test accuracy is at least the current model\'s minus this, on the '
                             'same new test split (default 0.01)')
    parser.add_argument('--bless-min-accuracy', type=arguments.fraction, default=0.85,
                        help='test accuracy a model needs to be blessed (default 0.85)')
    parser.add_argument('--prepare-option', action='append', default=[],
                        help='a Beam option for the prepare step, e.g. --prepare-option=--direct_num_workers=2')
    parser.epilog = ('Any other flag is a train flag (fashion-pipeline train --help), passed through; they are checked '
                     'before anything runs.')
    args, train_args = parser.parse_known_args(argv)
    files.check_paths(args, folders=['catalog', 'models'], files=['overrides', 'attribute_overrides'])
    if not files.is_local(args.models):
        raise UserError('--models must be a local folder (training writes its checkpoints there)')
    from trainer import train  # pylint: disable=import-outside-toplevel  (TensorFlow loads only when training)
    args.train_flags = train.parse_args(
        ['--data', '-', '--model-dir', '-', '--bless-min-accuracy', str(args.bless_min_accuracy), *train_args],
        train.OneLineParser, prog='a train flag')
    return args, train_args


def _sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def current_accuracy(models_dir, release, prepared):
    """Test accuracy of the model `release` on `prepared`'s test split (the new split both are judged on)."""
    from trainer import evaluate  # pylint: disable=import-outside-toplevel  (TensorFlow loads only here)
    model, leaves = evaluate.load_trained(models.release_path(models_dir, release))
    _, y_true, probabilities = evaluate.predict_ids(model, prepared, 'test', leaves)
    return float((probabilities.argmax(axis=1) == y_true).mean())


def decide(blessing, accuracy, current, current_on_new_split, tolerance):
    """(promote?, the reason in words)."""
    if not blessing['blessed']:
        return False, 'not blessed: ' + '; '.join(blessing['reasons'])
    if current is None:
        return True, 'blessed, and no model was in use'
    if accuracy < current_on_new_split - tolerance:
        return False, (f'test accuracy {accuracy:.4f} is worse than the current model {current}\'s '
                       f'{current_on_new_split:.4f} on the same split by more than {tolerance}')
    return True, (f'blessed, test accuracy {accuracy:.4f} against the current model {current}\'s '
                  f'{current_on_new_split:.4f} on the same split (tolerance {tolerance})')


def write_metrics(models_dir, summary):
    prometheus.write(FileSystems.join(models_dir, artifacts.METRICS_PROM), 'fashion_retrain', [
        ('last_run_timestamp_seconds', 'When the last retrain finished.', summary['finished_at']),
        ('promoted', '1 when the last retrain moved CURRENT to its model.', int(summary['promoted'])),
        ('blessed', '1 when the last retrained model was blessed.', int(summary['blessed'])),
        ('test_accuracy', 'Test accuracy of the last retrained model.', summary['test_accuracy']),
        ('current_test_accuracy', 'Test accuracy of the model in use before it, on the same split.',
         summary['current_test_accuracy'] if summary['current_test_accuracy'] is not None else float('nan')),
        ('wall_seconds', 'Wall time of the last retrain.', summary['wall_seconds']),
        ('train_examples', 'Training examples of the last retrain.', summary['train_examples']),
        ('overrides_applied', "Reviewers' overrides applied by the last retrain.",
         summary['overrides']['applied'] if summary['overrides'] else 0),
    ])


def run(argv=None):
    args, train_args = parse_args(argv)
    from trainer import train  # pylint: disable=import-outside-toplevel  (TensorFlow loads only when training)
    _, pipeline_options = arguments.parse(argparse.ArgumentParser(), args.prepare_option)
    os.makedirs(args.models, exist_ok=True)
    release, start = state.new_run_id(), time.time()
    current = models.current(args.models)
    target = models.release_path(args.models, release)
    with publish.staged(target, marker=artifacts.RETRAIN) as staging:
        prepared = os.path.join(staging, artifacts.PREPARED)
        manifest = prepare.prepare(args.catalog, prepared, pipeline_options, taxonomy_lib.load(), args.overrides,
                                   args.attribute_overrides)
        print(f'retrain: prepared {manifest["rows_read"]} rows, {sum(manifest["class_counts"]["train"].values())} '
              'to train on', flush=True)
        for given, name in ((args.overrides, artifacts.OVERRIDES), (args.attribute_overrides,
                                                                   artifacts.ATTRIBUTE_OVERRIDES)):
            if given:
                shutil.copyfile(given, os.path.join(staging, name))
        trained = train.train(argparse.Namespace(**dict(vars(args.train_flags), data=prepared, model_dir=staging)))
        metrics, export_path = trained.metrics, trained.export_path
        blessing = files.read_json(os.path.join(staging, artifacts.BLESSING))
        current_on_new_split = current_accuracy(args.models, current, prepared) if current else None
        promote, reason = decide(blessing, metrics['test.accuracy'], current, current_on_new_split, args.tolerance)
        summary = {
            'version': release, 'catalog': os.path.abspath(args.catalog),
            'overrides': ({'path': os.path.abspath(args.overrides), 'sha256': _sha256(args.overrides),
                           **{k: manifest['overrides'][k] for k in ('applied', 'stale', 'ignored')}}
                          if args.overrides else None),
            'attribute_overrides': ({'path': os.path.abspath(args.attribute_overrides),
                                     'sha256': _sha256(args.attribute_overrides),
                                     **{k: manifest['attribute_overrides'][k] for k in ('applied', 'stale', 'ignored')}}
                                    if args.attribute_overrides else None),
            'train_examples': sum(manifest['class_counts']['train'].values()), 'train_args': train_args,
            'export': os.path.relpath(export_path, staging), 'test_accuracy': metrics['test.accuracy'],
            'val_macro_f1': metrics['val.macro_f1'], 'blessed': blessing['blessed'], 'current': current,
            'current_test_accuracy': current_on_new_split, 'tolerance': args.tolerance, 'promoted': promote,
            'reason': reason, 'wall_seconds': round(time.time() - start, 1), 'finished_at': time.time()}
        files.write_json(os.path.join(staging, artifacts.RETRAIN), summary)
    if promote:
        models.move_current(args.models, release, models.RETRAIN, reason)
    write_metrics(args.models, summary)
    print(f'retrained {release}: test accuracy {metrics["test.accuracy"]:.4f}; '
          f'{"CURRENT moved to it" if promote else "CURRENT stays " + str(current)}: {reason}')
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['retrain', *sys.argv[1:]]))
