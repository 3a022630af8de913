"""Audit: every labelled item's label checked by models that never saw it, ranked by all the evidence.

    fashion-pipeline audit --catalog DIR --output DIR [--folds 2] [--overrides FILE] [--method cleanlab|threshold]
                           [--ranking fused|agreement|flips|ensemble|plain] [--prepare-option OPT ...]
                           [train flags: --epochs N, --model resnet ...]
    fashion-pipeline audit --rerank AUDIT_DIR [--ranking R] [--method M]

The nightly model trained on most of the catalog and learned those items' labels, errors included, so its
flags are blind where it learned. The audit:
1. prepares the catalog once (the reviewers' --overrides applied);
2. puts every labelled item in one of K folds by a salted hash of its group: items joined by an identical
   image or an identical normalised display name (rules/folds.py), in a Beam pipeline (transforms/folds.py);
3. trains K full-labels models (AUDIT_MODEL; train flags pass through, `--model resnet` audits with the image
   alone), each on the other folds less a held-out share for its own best epoch and calibration; each hands
   back its fold's calibrated predictions per head (fused, image, name, fused on the mirrored image);
4. ranks the labels at articleType level (rules/audit.py: --ranking picks the score; every ranking's threshold
   fit is kept), with the evidence that disagrees and the suggested articleType and parents, and estimates the
   threshold's precision at the catalog's own noise rate. `issue` follows --method (default threshold).
Publishes OUTPUT atomically (summary.json last): audit.csv and audit.parquet (one row per labelled item,
rules/audit.AUDIT_COLUMNS), overlap.csv (the taxonomy overlap report's pairs, rules/overlap.py), neighbours.csv
(the declared neighbours and the learned ones, for the nightly's --neighbours), folds.csv, summary.json /
summary.txt (with the judged precision on real errors, rules/judged.py), models/fold-<k>/ (each model with its
metrics and its fold's predictions, which --rerank ranks again without training) and, with --keep-fold-data,
fold-data/ (the data each model trained on and audited). A Class without a
leaf in a fold's model is not audited in that fold (`rank` empty) and is listed.
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np
import pandas as pd

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.jobs import arguments, launch, prepare
from pipelines.rules import (audit as audit_lib, folds as folds_lib, judged, leaves as leaves_lib,
                             neighbours as neighbours_lib, overlap, predictions, taxonomy as taxonomy_lib)
from pipelines.rules.split import SPLITS
from pipelines.storage import files, publish
from pipelines.transforms.folds import WriteFolds, model_dir as fold_data_dir

DEFAULT_FOLDS = 2
DEFAULT_METHOD = audit_lib.THRESHOLD
AUDIT_MODEL = 'fused'
DEFAULT_RANKING = audit_lib.PLAIN


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='fashion-pipeline audit', description=' '.join(__doc__.split('\n\n')[0].split()),
        epilog='Any other flag is a train flag (fashion-pipeline train --help), passed through to every fold\'s '
               f'model, with --model {AUDIT_MODEL} unless given; they are checked before anything runs.')
    parser.add_argument('--catalog', help='folder with styles.csv and images/')
    parser.add_argument('--output', help='folder to publish the audit into (local: models train there)')
    parser.add_argument('--rerank', metavar='AUDIT_DIR',
                        help='rank a published audit again from its models\' saved predictions, without training '
                             '(with another --ranking or --method); instead of --catalog and --output')
    parser.add_argument('--folds', type=int, default=DEFAULT_FOLDS,
                        help=f'models to train, each leaving one fold out (default {DEFAULT_FOLDS})')
    parser.add_argument('--overrides', help="a label_overrides.csv of reviewers' decisions (review --export-overrides)")
    arguments.add_neighbours_argument(parser, 'a label whose suggested type is its neighbour is not an issue')
    parser.add_argument('--method', choices=audit_lib.METHODS, default=DEFAULT_METHOD,
                        help=f'which rule sets `issue`; both are computed and kept (default {DEFAULT_METHOD})')
    parser.add_argument('--ranking', choices=audit_lib.RANKINGS, default=DEFAULT_RANKING,
                        help=f'how the heads rank the labels (rules/audit.py; every ranking is measured in '
                             f'summary.json\'s rankings; default {DEFAULT_RANKING})')
    parser.add_argument('--keep-fold-data', action='store_true',
                        help=f'keep each model\'s training data in OUTPUT/{artifacts.AUDIT_FOLD_DATA}/ (the prepared '
                             'catalog and one prepared-like folder per model; as large as the catalog\'s images, '
                             'times K + 1)')
    parser.add_argument('--prepare-option', action='append', default=[],
                        help='a Beam option for the prepare and fold steps, e.g. '
                             '--prepare-option=--direct_num_workers=2')
    args, train_args = parser.parse_known_args(argv)
    if args.rerank:
        if args.catalog or args.output or train_args:
            raise UserError('--rerank takes a published audit alone: no --catalog, --output or train flags')
        files.check_paths(args, folders=['rerank'])
        if not files.exists(args.rerank, artifacts.SUMMARY):
            raise UserError(f'{args.rerank!r} is not a published audit: no {artifacts.SUMMARY}')
        return args, None
    if not (args.catalog and args.output):
        raise UserError('the audit needs --catalog and --output (or --rerank AUDIT_DIR)')
    if not any(arg == '--model' or arg.startswith('--model=') for arg in train_args):
        train_args = ['--model', AUDIT_MODEL, *train_args]
    train_flags = check_train_flags(train_args)
    args.train_args = train_args
    files.check_paths(args, folders=['catalog', 'output'], files=['overrides'])
    if not files.is_local(args.output):
        raise UserError('--output must be a local folder (the audit trains its models there)')
    if args.folds < 2:
        raise UserError(folds_lib.check_folds(args.folds, 1))
    return args, train_flags


def check_train_flags(train_args):
    """The train flags as train.parse_args reads them (each fold's data and model dir filled in later); a bad
    one is one line (exit 2) before prepare starts, not train's usage text after it."""
    from trainer import train  # pylint: disable=import-outside-toplevel  (TensorFlow loads only here)
    return train.parse_args(['--data', '-', '--model-dir', '-', '--bless-min-accuracy', '0', *train_args],
                            train.OneLineParser, prog='a train flag')


def build_folds(p, prepared, work, folds):
    _ = p | 'write folds' >> WriteFolds(prepared, work, folds)


def write_fold_data(work, fold, listing, prepared, classes):
    """Completes fold-<fold>/ as a prepare output the trainer reads: labels, taxonomy, and a manifest whose
    class counts are the model's roles. Returns the class counts by role."""
    folder = fold_data_dir(work, fold)
    roles = [folds_lib.role(f, h, fold) for f, h in zip(listing['fold'], listing['holdout'])]
    counts = {role: {name: 0 for name in classes} for role in folds_lib.ROLES}
    for role, name in zip(roles, listing['class_name']):
        counts[role][name] += 1
    manifest = dict(files.read_json(os.path.join(prepared, artifacts.MANIFEST)), class_counts=counts,
                    audit_fold=fold)
    files.write_json(os.path.join(folder, artifacts.MANIFEST), manifest)
    for name in (artifacts.LABELS, artifacts.TAXONOMY):
        shutil.copyfile(os.path.join(prepared, name), os.path.join(folder, name))
    return counts


def train_fold(data_dir, model_dir, train_flags):
    """Trains one audit model; returns (its summary, its Trained: the fold's out-of-sample predictions come with
    the training's own evaluation, so no second predict pass runs)."""
    from trainer import train  # pylint: disable=import-outside-toplevel  (TensorFlow loads only here)
    start = time.time()
    trained = train.train(argparse.Namespace(**dict(vars(train_flags), data=data_dir, model_dir=model_dir)),
                          flip_test=True)
    key = 'test.article_type.accuracy' if trained.leaves else 'test.accuracy'
    summary = {'out_of_sample_accuracy': round(trained.metrics[key], 4),
               'temperature': round(trained.metrics['calibration.temperature'], 4),
               'wall_seconds': round(time.time() - start, 1)}
    return summary, trained


def fold_predictions(trained, classes, master_of):
    """(ids, the fold's leaves, each item's given leaf in them (-1: its Class has none), {head: probabilities})."""
    held = trained.test_predictions
    if trained.leaves is None:
        return (held['id'], audit_lib.class_leaves(classes, master_of), np.asarray(held['class_index'], int),
                {audit_lib.FUSED: held['probabilities']})
    heads = {h: held[h] for h in (*audit_lib.HEADS, audit_lib.FLIPPED) if h in held}
    return held['id'], trained.leaves, np.asarray(held['leaf'], int), heads


def out_of_sample(work, models_dir, listing, prepared, classes, folds, train_flags):
    """Trains the K models; returns ([per fold: (ids, leaves, given leaves, heads)], per-model summaries,
    {class: folds where it was not audited})."""
    taxonomy = taxonomy_lib.Taxonomy.from_dict(files.read_json(os.path.join(prepared, artifacts.TAXONOMY)))
    master_of = taxonomy.master_categories()
    class_of = dict(zip(listing['id'], listing['class_name']))
    results, models, not_audited = [], [], {}
    for fold in range(folds):
        counts = write_fold_data(work, fold, listing, prepared, classes)
        train_items, holdout_items, audited_items = (sum(counts[role].values()) for role in folds_lib.ROLES)
        print(f'audit: model {fold + 1} of {folds}: trains on {train_items} items, holds out {holdout_items}, '
              f'audits {audited_items}', flush=True)
        if not (train_items and holdout_items and audited_items):
            raise UserError(f'fold {fold} leaves model {fold + 1} no items to train on, hold out or audit: the '
                            f'catalog is too small for --folds {folds}')
        summary, trained = train_fold(fold_data_dir(work, fold), os.path.join(models_dir, f'fold-{fold}'),
                                      train_flags)
        ids, leaves, given, heads = fold_predictions(trained, classes, master_of)
        unseen = {name for name, count in counts[folds_lib.TRAIN].items() if not count}
        given = np.where([class_of[i] in unseen for i in ids], -1, given).astype(int)
        results.append((ids, leaves, given, heads))
        save_fold(os.path.join(models_dir, f'fold-{fold}'), ids, leaves, given, heads)
        for name in sorted({class_of[i] for i, g in zip(ids, given) if g < 0}):
            not_audited.setdefault(name, []).append(fold)
        print(f'audit: model {fold + 1} of {folds}: out-of-sample accuracy {summary["out_of_sample_accuracy"]}, '
              f'{summary["wall_seconds"]} s', flush=True)
        models.append({'fold': fold, 'train_items': train_items, 'holdout_items': holdout_items,
                       'audited_items': len(ids), 'classes_without_training_items': sorted(unseen), **summary})
    return results, models, not_audited


def save_fold(model_dir, ids, leaves, given, heads):
    """Keeps a fold's out-of-sample predictions beside its model, so that --rerank needs no training."""
    np.savez_compressed(os.path.join(model_dir, artifacts.AUDIT_OUT_OF_SAMPLE), ids=np.asarray(ids, str),
                        given=given, leaves=np.asarray(leaves.to_json()), **heads)


def load_fold(model_dir):
    """save_fold's (ids, leaves, given leaves, heads)."""
    with np.load(os.path.join(model_dir, artifacts.AUDIT_OUT_OF_SAMPLE)) as saved:
        heads = {name: saved[name] for name in saved.files if name not in ('ids', 'given', 'leaves')}
        return (saved['ids'].tolist(), leaves_lib.Leaves.from_json(str(saved['leaves'])), saved['given'], heads)


def read_listing(path):
    listing = pd.read_csv(path, dtype=str, keep_default_na=False)
    listing['fold'], listing['holdout'] = listing['fold'].astype(int), listing['holdout'] == 'True'
    return listing.sort_values('id', key=lambda ids: ids.astype(int), kind='stable').reset_index(drop=True)


def write_table(staging, table, overlapping, neighbours_path):
    """The audit table, the overlap report's pairs, and the declared neighbours with the learned ones added (what
    the nightly's --neighbours can take)."""
    overlapping.to_csv(os.path.join(staging, artifacts.AUDIT_OVERLAP), index=False)
    files.write_text(os.path.join(staging, artifacts.NEIGHBOURS), overlap.with_learned(
        files.read_text(neighbours_path), overlapping, time.strftime('%Y-%m-%d')))
    table.to_parquet(os.path.join(staging, artifacts.AUDIT_PARQUET), index=False)
    safe = table.apply(lambda column: column.map(predictions.csv_safe) if column.dtype == object else column)
    safe.to_csv(os.path.join(staging, artifacts.AUDIT_CSV), index=False)


def rerank(args):
    """Ranks a published audit again from its folds' saved predictions (another --ranking or --method), and
    publishes it in place, atomically."""
    audit_dir = args.rerank
    before = files.read_json(os.path.join(audit_dir, artifacts.SUMMARY))
    listing = read_listing(os.path.join(audit_dir, artifacts.FOLDS_CSV))
    declared = neighbours_lib.load(args.neighbours)
    models_dir = os.path.join(audit_dir, artifacts.AUDIT_MODELS)
    results = [load_fold(os.path.join(models_dir, f'fold-{fold}')) for fold in range(before['folds'])]
    with publish.staged(audit_dir, marker=artifacts.SUMMARY) as staging:
        shutil.copytree(models_dir, os.path.join(staging, artifacts.AUDIT_MODELS))
        shutil.copyfile(os.path.join(audit_dir, artifacts.FOLDS_CSV), os.path.join(staging, artifacts.FOLDS_CSV))
        table, ranking, overlapping = audit_lib.rank(listing, results, args.ranking, args.method, declared)
        write_table(staging, table, overlapping, args.neighbours)
        summary = dict(before, **ranking, top=audit_lib.top_issues(table, before['catalog']),
                       overlap=overlap.report(overlapping, table, before['catalog']),
                       precision_on_real_errors=judged.load(), reranked_at=time.time())
        files.write_text(os.path.join(staging, artifacts.SUMMARY_TEXT), audit_lib.summary_text(summary))
        files.write_json(os.path.join(staging, artifacts.SUMMARY), summary)
    print(f'ranked {audit_dir} again by {args.ranking}: {summary["issues"]} issues by {args.method}')
    return summary


def run(argv=None):
    args, train_flags = parse_args(argv)
    if args.rerank:
        return rerank(args)
    _, pipeline_options = arguments.parse(argparse.ArgumentParser(), args.prepare_option)
    declared = neighbours_lib.load(args.neighbours)
    start = time.time()
    with publish.staged(args.output, marker=artifacts.SUMMARY) as staging:
        work = os.path.join(staging, 'work')  # removed before publishing, unless --keep-fold-data
        prepared = os.path.join(work, artifacts.PREPARED)
        manifest = prepare.prepare(args.catalog, prepared, pipeline_options, taxonomy_lib.load(), args.overrides)
        labelled = sum(sum(manifest['class_counts'][split].values()) for split in SPLITS)
        print(f'audit: prepared {manifest["rows_read"]} rows, {labelled} labelled items', flush=True)
        problem = folds_lib.check_folds(args.folds, labelled)
        if problem:
            raise UserError(problem)
        launch.run(pipeline_options, build_folds, prepared, work, args.folds)
        listing = read_listing(os.path.join(work, artifacts.FOLDS_CSV))
        classes = files.read_text(os.path.join(prepared, artifacts.LABELS)).splitlines()
        results, models, not_audited = out_of_sample(
            work, os.path.join(staging, artifacts.AUDIT_MODELS), listing, prepared, classes, args.folds, train_flags)
        table, ranking, overlapping = audit_lib.rank(listing, results, args.ranking, args.method, declared)
        write_table(staging, table, overlapping, args.neighbours)
        shutil.copyfile(os.path.join(work, artifacts.FOLDS_CSV), os.path.join(staging, artifacts.FOLDS_CSV))
        if args.keep_fold_data:
            os.rename(work, os.path.join(staging, artifacts.AUDIT_FOLD_DATA))
        else:
            shutil.rmtree(work)
        wall = time.time() - start
        summary = {'catalog': os.path.abspath(args.catalog), 'folds': args.folds, 'model': train_flags.model,
                   **ranking, 'classes_not_audited': dict(sorted(not_audited.items())), 'models': models,
                   'overrides': manifest['overrides'], 'taxonomy_version': manifest['taxonomy_version'],
                   'train_args': args.train_args, 'top': audit_lib.top_issues(table, args.catalog),
                   'overlap': overlap.report(overlapping, table, args.catalog),
                   'precision_on_real_errors': judged.load(),
                   'wall_seconds': round(wall, 1), 'minutes': round(wall / 60, 1), 'finished_at': time.time()}
        files.write_text(os.path.join(staging, artifacts.SUMMARY_TEXT), audit_lib.summary_text(summary))
        files.write_json(os.path.join(staging, artifacts.SUMMARY), summary)
    print(f'audited {args.catalog}: {summary["audited"]} of {summary["labelled"]} labelled items out of sample '
          f'(accuracy {summary["out_of_sample_accuracy"]}), {summary["issues"]} issues by {args.method}; '
          f'{summary["minutes"]} minutes; output in {args.output}')
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['audit', *sys.argv[1:]]))
