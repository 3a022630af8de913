"""Audit: every labelled item's label checked by models that never saw it, ranked by all the evidence.

    fashion-pipeline audit --catalog DIR --output DIR [--folds 2] [--overrides FILE] [--method cleanlab|threshold]
                           [--ranking fused|agreement|flips|ensemble] [--prepare-option OPT ...]
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
rules/audit.AUDIT_COLUMNS), folds.csv, summary.json / summary.txt, models/fold-<k>/ (each model with its
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
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.jobs import arguments, launch, prepare
from pipelines.rules import audit as audit_lib, catalog, folds as folds_lib, leaves as leaves_lib, predictions
from pipelines.rules.split import SPLITS
from pipelines.rules.taxonomy import Taxonomy
from pipelines.storage import files, publish
from pipelines.transforms.folds import WriteFolds, model_dir as fold_data_dir

DEFAULT_FOLDS = 2
DEFAULT_METHOD = audit_lib.THRESHOLD
AUDIT_MODEL = 'fused'
DEFAULT_RANKING = audit_lib.FUSED
TOP_SHOWN = 50


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline audit',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', help='folder with styles.csv and images/')
    parser.add_argument('--output', help='folder to publish the audit into (local: models train there)')
    parser.add_argument('--rerank', metavar='AUDIT_DIR',
                        help='rank a published audit again from its models\' saved predictions, without training '
                             '(with another --ranking or --method); instead of --catalog and --output')
    parser.add_argument('--folds', type=int, default=DEFAULT_FOLDS,
                        help=f'models to train, each leaving one fold out (default {DEFAULT_FOLDS})')
    parser.add_argument('--overrides', help="a label_overrides.csv of reviewers' decisions (review --export-overrides)")
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
        return args, []
    if not (args.catalog and args.output):
        raise UserError('the audit needs --catalog and --output (or --rerank AUDIT_DIR)')
    if not any(arg == '--model' or arg.startswith('--model=') for arg in train_args):
        train_args = ['--model', AUDIT_MODEL, *train_args]
    files.check_paths(args, folders=['catalog', 'output'], files=['overrides'])
    if not files.is_local(args.output):
        raise UserError('--output must be a local folder (the audit trains its models there)')
    if args.folds < 2:
        raise UserError(folds_lib.check_folds(args.folds, 1))
    return args, train_args


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


def train_fold(data_dir, model_dir, train_args):
    """Trains one audit model; returns (its summary, its Trained: the fold's out-of-sample predictions come with
    the training's own evaluation, so no second predict pass runs)."""
    from trainer import train  # pylint: disable=import-outside-toplevel  (TensorFlow loads only here)
    start = time.time()
    trained = train.train(['--data', data_dir, '--model-dir', model_dir, '--bless-min-accuracy', '0', *train_args],
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


def out_of_sample(work, models_dir, listing, prepared, classes, folds, train_args):
    """Trains the K models; returns ([per fold: (ids, leaves, given leaves, heads)], per-model summaries,
    {class: folds where it was not audited})."""
    master_of = Taxonomy.from_dict(files.read_json(os.path.join(prepared, artifacts.TAXONOMY))).master_categories()
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
        summary, trained = train_fold(fold_data_dir(work, fold), os.path.join(models_dir, f'fold-{fold}'), train_args)
        ids, leaves, given, heads = fold_predictions(trained, classes, master_of)
        unseen = {name for name, count in counts[folds_lib.TRAIN].items() if not count}
        given = np.where([class_of[i] in unseen for i in ids], -1, given).astype(int)
        results.append((ids, leaves, given, heads))
        save_fold(os.path.join(models_dir, f'fold-{fold}'), ids, leaves, given, heads)
        for name in sorted({class_of[i] for i, g in zip(ids, given) if g < 0}):
            not_audited.setdefault(name, []).append(fold)
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


def _spread(values, mask, fill):
    """`values` of the rows where `mask` holds, `fill` elsewhere."""
    values = np.asarray(values)
    column = np.full(len(mask), fill, dtype=object if values.dtype == object else values.dtype)
    column[mask] = values
    return column


def combine(listing, results):
    """The folds' predictions over the union of their leaves, in listing order: (leaf names, {name: parents},
    given leaf per row (-1: not audited), {head: [rows, leaves]} for the heads every fold has)."""
    names, parents = audit_lib.union_leaves([leaves for _, leaves, _, _ in results])
    index = {name: i for i, name in enumerate(names)}
    position = {item_id: n for n, item_id in enumerate(listing['id'])}
    given = np.full(len(listing), -1)
    heads = {}
    for ids, leaves, fold_given, fold_heads in results:
        rows = np.array([position[i] for i in ids], int)
        given[rows] = [index[leaves.article_types[g]] if g >= 0 else -1 for g in fold_given]
        for head, probabilities in fold_heads.items():
            heads.setdefault(head, np.zeros((len(listing), len(names))))[rows] = audit_lib.widen(
                probabilities, leaves.article_types, names)
    return names, parents, given, {h: p for h, p in heads.items() if all(h in r[3] for r in results)}


def fit_ranking(heads, given, parents, names, ranking):
    """(score matrix, the matrix labels are scored on, threshold fit) of one ranking over the audited items; half
    the fit's injected flips stay in their masterCategory."""
    from trainer import calibration  # pylint: disable=import-outside-toplevel
    matrix = audit_lib.ranking_matrix(heads, given, ranking)
    scored = audit_lib.others_at_class_level(matrix, names, _leaf_classes(parents, names))
    return matrix, scored, calibration.fit_flag_threshold(scored, given, [parents[name][0] for name in names])


def _leaf_classes(parents, names):
    return [parents[name][2] for name in names]


def _names(names, indices):
    return np.array([names[j] for j in indices], object)


def rank(listing, results, ranking, method):
    """The audit table (rules/audit.AUDIT_COLUMNS, most suspicious first) and the ranking's summary."""
    names, parents, given_all, heads_all = combine(listing, results)
    audited = given_all >= 0
    given = given_all[audited]
    heads = {h: p[audited] for h, p in heads_all.items()}
    matrices, scored, fits = {}, {}, {}
    for option in audit_lib.RANKINGS:
        matrices[option], scored[option], fits[option] = fit_ranking(heads, given, parents, names, option)
    matrix, fit = matrices[ranking], fits[ranking]
    by_threshold = audit_lib.threshold_issues(scored[ranking], given, fit['max_given_probability'])
    by_cleanlab = audit_lib.cleanlab_issues(matrix, given)
    quality = audit_lib.given_quality(scored[ranking], given)
    heads_scored = {h: audit_lib.others_at_class_level(p, names, _leaf_classes(parents, names))
                    for h, p in heads.items()}
    suggested = matrix.argmax(axis=1)
    table = pd.DataFrame({'id': listing['id'], 'name': listing['productDisplayName'], 'split': listing['split'],
                          'fold': listing['fold'], 'group': listing['group'], 'content_hash': listing['content_hash'],
                          'given_master': listing['masterCategory'], 'given_sub': listing['subCategory'],
                          'given_type': listing['articleType'], 'given_class': listing['class_name']})
    suggested_labels = [(*parents[names[j]][:2], names[j], parents[names[j]][2]) for j in suggested]
    for column, values in zip(audit_lib.SUGGESTED, zip(*suggested_labels) if len(given) else [()] * 4):
        table[column] = _spread(np.array(values, object), audited, None)
    table['suggested_probability'] = _spread(matrix[np.arange(len(given)), suggested], audited, np.nan)
    for column, head in (('given_probability', audit_lib.FUSED), ('image_given_probability', audit_lib.IMAGE),
                         ('name_given_probability', audit_lib.NAME)):
        table[column] = (_spread(audit_lib.given_quality(heads_scored[head], given), audited, np.nan)
                         if head in heads else np.nan)
    for column, head in (('image_suggests', audit_lib.IMAGE), ('name_suggests', audit_lib.NAME)):
        table[column] = (_spread(_names(names, heads[head].argmax(axis=1)), audited, None) if head in heads else None)
    for option in audit_lib.RANKINGS:
        table[f'quality_{option}'] = _spread(audit_lib.given_quality(scored[option], given), audited, np.nan)
    table['label_quality'] = _spread(quality, audited, np.nan)
    for k, column in enumerate(zip(*audit_lib.top_leaves(matrix, names)), start=1):
        table[f'top{k}_type'] = _spread(np.array([name for name, _ in column], object), audited, None)
        table[f'top{k}_probability'] = _spread(np.array([value for _, value in column]), audited, np.nan)
    table['evidence'] = _spread(np.array(audit_lib.evidence(heads_scored, given), object), audited, None)
    table['type_known'] = _spread(np.array([not names[g].startswith(leaves_lib.OTHER) for g in given]), audited,
                                  False)
    for name, found in ((audit_lib.CLEANLAB, by_cleanlab), (audit_lib.THRESHOLD, by_threshold)):
        table[f'{name}_issue'] = _spread(found, audited, False)
    table['issue'] = table[f'{method}_issue']
    table.loc[~table['issue'], 'evidence'] = None
    table['rank'] = pd.Series(_spread(audit_lib.ranks(quality), audited, 0), dtype='Int64').where(audited)
    table = table.sort_values(['rank', 'id'], na_position='last', kind='stable')[list(audit_lib.AUDIT_COLUMNS)]
    rate, (low, high) = fit['own_noise_rate'], fit['own_noise_rate_interval'] or (0.0, 0.0)
    summary = {
        'method': method, 'ranking': ranking, 'labelled': len(listing), 'audited': int(audited.sum()),
        'issues': int(table['issue'].sum()),
        'issues_by_method': {audit_lib.CLEANLAB: int(by_cleanlab.sum()), audit_lib.THRESHOLD: int(by_threshold.sum()),
                             'both': int((by_cleanlab & by_threshold).sum())},
        'threshold_fit': fit,
        'expected_errors': {'estimate': round(rate * len(given)),
                            'interval': [round(low * len(given)), round(high * len(given))]},
        'expected_errors_flagged': round((fit['own_rate_precision'] or 0) * int(by_threshold.sum())),
        'rankings': {option: {k: fits[option][k] for k in ('max_given_probability', 'recall', 'corrected_precision',
                                                           'own_rate_precision', 'own_rate_precision_interval')}
                     for option in audit_lib.RANKINGS},
        'heads': sorted(heads),
        'out_of_sample_accuracy': round(float((heads[audit_lib.FUSED].argmax(axis=1) == given).mean()), 4)
        if len(given) else None,
        'noise_per_type': audit_lib.noise_per_leaf(given, matrix, names),
    }
    return table, summary


def top_issues(table, catalog_dir, count=TOP_SHOWN):
    """The most suspicious issues, with what the report shows of each."""
    issues = table[table['issue']].head(count)
    return [{'id': row.id, 'name': row.name, 'given_class': row.given_class, 'given_type': row.given_type,
             'given_parents': [row.given_master, row.given_sub], 'suggested_class': row.suggested_class,
             'suggested_type': row.suggested_type, 'suggested_parents': [row.suggested_master, row.suggested_sub],
             'suggested_probability': round(float(row.suggested_probability), 4),
             'given_probability': round(float(row.given_probability), 4), 'evidence': row.evidence,
             'rank': int(row.rank), 'image_path': catalog.image_path(catalog_dir, row.id)}
            for row in issues.itertuples()]


def write_table(staging, table):
    table.to_parquet(os.path.join(staging, artifacts.AUDIT_PARQUET), index=False)
    safe = table.apply(lambda column: column.map(predictions.csv_safe) if column.dtype == object else column)
    safe.to_csv(os.path.join(staging, artifacts.AUDIT_CSV), index=False)


def rerank(args):
    """Ranks a published audit again from its folds' saved predictions (another --ranking or --method), and
    publishes it in place, atomically."""
    audit_dir = args.rerank
    before = files.read_json(os.path.join(audit_dir, artifacts.SUMMARY))
    listing = read_listing(os.path.join(audit_dir, artifacts.FOLDS_CSV))
    models_dir = os.path.join(audit_dir, artifacts.AUDIT_MODELS)
    results = [load_fold(os.path.join(models_dir, f'fold-{fold}')) for fold in range(before['folds'])]
    with publish.staged(audit_dir, marker=artifacts.SUMMARY) as staging:
        shutil.copytree(models_dir, os.path.join(staging, artifacts.AUDIT_MODELS))
        shutil.copyfile(os.path.join(audit_dir, artifacts.FOLDS_CSV), os.path.join(staging, artifacts.FOLDS_CSV))
        table, ranking = rank(listing, results, args.ranking, args.method)
        write_table(staging, table)
        summary = dict(before, **ranking, top=top_issues(table, before['catalog']), reranked_at=time.time())
        files.write_text(os.path.join(staging, artifacts.SUMMARY_TEXT), audit_lib.summary_text(summary))
        files.write_json(os.path.join(staging, artifacts.SUMMARY), summary)
    print(f'ranked {audit_dir} again by {args.ranking}: {summary["issues"]} issues by {args.method}')
    return summary


def run(argv=None):
    args, train_args = parse_args(argv)
    if args.rerank:
        return rerank(args)
    _, pipeline_options = arguments.parse(argparse.ArgumentParser(), args.prepare_option)
    start = time.time()
    with publish.staged(args.output, marker=artifacts.SUMMARY) as staging:
        work = os.path.join(staging, 'work')  # removed before publishing, unless --keep-fold-data
        prepared = os.path.join(work, artifacts.PREPARED)
        manifest = prepare.run(['--catalog', args.catalog, '--output', prepared,
                                *(['--overrides', args.overrides] if args.overrides else []), *args.prepare_option])
        labelled = sum(sum(manifest['class_counts'][split].values()) for split in SPLITS)
        problem = folds_lib.check_folds(args.folds, labelled)
        if problem:
            raise UserError(problem)
        launch.run(pipeline_options, build_folds, prepared, work, args.folds)
        listing = read_listing(os.path.join(work, artifacts.FOLDS_CSV))
        classes = files.read_text(os.path.join(prepared, artifacts.LABELS)).splitlines()
        results, models, not_audited = out_of_sample(
            work, os.path.join(staging, artifacts.AUDIT_MODELS), listing, prepared, classes, args.folds, train_args)
        table, ranking = rank(listing, results, args.ranking, args.method)
        write_table(staging, table)
        shutil.copyfile(os.path.join(work, artifacts.FOLDS_CSV), os.path.join(staging, artifacts.FOLDS_CSV))
        if args.keep_fold_data:
            os.rename(work, os.path.join(staging, artifacts.AUDIT_FOLD_DATA))
        else:
            shutil.rmtree(work)
        wall = time.time() - start
        model = next((a.split('=', 1)[1] if '=' in a else train_args[n + 1] for n, a in enumerate(train_args)
                      if a.split('=', 1)[0] == '--model'), AUDIT_MODEL)
        summary = {'catalog': os.path.abspath(args.catalog), 'folds': args.folds, 'model': model, **ranking,
                   'classes_not_audited': dict(sorted(not_audited.items())), 'models': models,
                   'overrides': manifest['overrides'], 'taxonomy_version': manifest['taxonomy_version'],
                   'train_args': train_args, 'top': top_issues(table, args.catalog),
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
