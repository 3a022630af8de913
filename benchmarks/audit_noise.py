"""The audit against noise where it really is, in the training data: every labelled item checked out of sample.

    .venv/bin/python benchmarks/audit_noise.py --catalog ../shared/data/fashion-product-images-small \
        [--work runs/noisy-5] [--rate 0.05] [--folds 2] [--training-run MODEL_DIR/training_run.json] [train flags...]

1. writes (or reuses) the noisy copy of the catalog that benchmarks/noisy_training.py makes: a seeded --rate of
   its labelled items take another Class's labels, half within their masterCategory, before prepare;
2. runs `fashion-pipeline audit` on it (skipped when WORK/audit is already published);
3. measures both of the audit's rules against the flipped items, overall and per split of the prepare job
   (the split the nightly model trains on): precision and recall at the threshold the audit fitted itself, and
   the best precision at recall >= 0.85 along each rule's ranking; beside them, the nightly model's flags on
   the same catalog when noisy_training.py has measured them in WORK (noisy_training.json);
4. compares the audit's wall time with one training of the default model on the same machine (--training-run:
   that model's training_run.json).
Precision counts every issue on an item that was not flipped as false, though the catalog has mislabels of its
own: a lower bound; WORK/audit_noise.json lists the unflipped items flagged, most suspicious first, to look at.
"""
import argparse
import json
import os
import subprocess

import numpy as np
import pandas as pd

import bench  # a sibling script: benchmarks/ is on sys.path when this one runs
import noisy_training

from pipelines import artifacts
from pipelines.rules import audit as audit_lib, leaves

TARGET_RECALL = 0.85
UNFLIPPED_LISTED = 100


def precision_at_recall(order, truth, recall=TARGET_RECALL):
    """The best precision over cut-offs of the ranking `order` (item positions, most suspicious first) that reach
    `recall` of `truth`; (precision, items flagged), or (None, None) when the ranking never reaches it."""
    hits = np.cumsum(truth[order])
    reaching = np.flatnonzero(hits >= recall * truth.sum())
    if not len(reaching):
        return None, None
    precision = hits[reaching] / (reaching + 1)
    best = int(np.argmax(precision))
    return round(float(precision[best]), 4), int(reaching[best] + 1)


def rule_figures(table, found, flipped):
    """Precision and recall of the boolean column `found`, overall and per split."""
    figures = {}
    splits = [(split, table[table['split'] == split]) for split in ('train', 'val', 'test')]
    for name, rows in (('all', table), *splits):
        precision, recall = audit_lib.precision_recall(rows[found].to_numpy(bool), rows['id'].isin(flipped).to_numpy())
        figures[name] = {'items': len(rows), 'flipped': int(rows['id'].isin(flipped).sum()),
                         'flagged': int(rows[found].sum()), 'precision': precision, 'recall': recall}
    return figures


def measure(audit_dir, flipped, training_run):
    table = pd.read_parquet(os.path.join(audit_dir, artifacts.AUDIT_PARQUET))
    with open(os.path.join(audit_dir, artifacts.SUMMARY), encoding='utf-8') as f:
        summary = json.load(f)
    audited = table[table['rank'].notna()].reset_index(drop=True)
    truth = audited['id'].isin(flipped).to_numpy()
    by_quality = np.argsort(audited['label_quality'].to_numpy(), kind='stable')
    given_leaf = audited['given_type'].where(audited['type_known'], leaves.OTHER + audited['given_class'])
    disagrees = (audited['suggested_type'] != given_leaf).to_numpy()
    by_threshold_rule = by_quality[disagrees[by_quality]]
    result = {'labelled': summary['labelled'], 'audited': summary['audited'], 'flipped': len(flipped),
              'flipped_audited': int(truth.sum()), 'folds': summary['folds'],
              'out_of_sample_accuracy': summary['out_of_sample_accuracy'], 'train_args': summary['train_args'],
              'threshold': summary['threshold_fit']['max_given_probability'], 'models': summary['models'],
              'audit_wall_seconds': summary['wall_seconds'], 'rules': {}}
    for rule, order in ((audit_lib.CLEANLAB, by_quality), (audit_lib.THRESHOLD, by_threshold_rule)):
        precision, flagged = precision_at_recall(order, truth)
        result['rules'][rule] = {'fitted': rule_figures(audited, f'{rule}_issue', flipped),
                                 'precision_at_recall_085': precision, 'flagged_at_recall_085': flagged}
    result['rankings'] = {}
    for ranking in audit_lib.RANKINGS:  # each ranking's order alone, and its own fitted threshold (summary.json)
        precision, flagged = precision_at_recall(np.argsort(audited[f'quality_{ranking}'].to_numpy(), kind='stable'),
                                                 truth)
        result['rankings'][ranking] = {'precision_at_recall_085': precision, 'flagged_at_recall_085': flagged,
                                       'fit': summary['rankings'][ranking]}
    chosen = max(audit_lib.METHODS, key=lambda r: result['rules'][r]['precision_at_recall_085'] or 0)
    result['better_rule'] = chosen
    unflipped = audited[audited[f'{summary["method"]}_issue'] & ~audited['id'].isin(flipped)]
    result['unflipped_flagged'] = unflipped.head(UNFLIPPED_LISTED)[
        ['id', 'given_type', 'suggested_type', 'given_probability', 'evidence', 'rank']].to_dict('records')
    if training_run:
        with open(training_run, encoding='utf-8') as f:
            run = json.load(f)
        result['one_training'] = {'path': training_run, 'wall_seconds': run['wall_seconds'], 'cpu': run['cpu'],
                                  'precision': run.get('precision'), 'epochs': run['epochs']}
        result['audit_over_one_training'] = round(summary['wall_seconds'] / run['wall_seconds'], 3)
    return result


def _cell(value, digits=3):
    return '—' if value is None else f'{value:.{digits}f}'


def markdown_lines(r, nightly):
    lines = [f'Audit of the noisy catalog ({r["flipped"]:,} of {r["labelled"]:,} labelled items flipped; '
             f'{r["folds"]} folds; out-of-sample accuracy against the noisy labels {r["out_of_sample_accuracy"]}; '
             f'threshold fitted on the out-of-sample probabilities {r["threshold"]:.4g}; '
             f'wall {r["audit_wall_seconds"] / 60:.1f} min'
             + (f', {r["audit_over_one_training"]}x one training of the default model '
                f'({r["one_training"]["wall_seconds"]:.0f} s)' if 'one_training' in r else '') + ').', '',
             '| rule | split | flipped | flagged | precision | recall |', '| --- | --- | --- | --- | --- | --- |']
    for rule, figures in r['rules'].items():
        for split, e in figures['fitted'].items():
            lines.append(f'| audit, {rule} | {split} | {e["flipped"]} | {e["flagged"]} | {_cell(e["precision"])} | '
                         f'{_cell(e["recall"])} |')
    if nightly:
        for split, e in [('all', nightly['all']), *nightly['per_split'].items()]:
            lines.append(f'| nightly model\'s flags | {split} | {e["flipped"]} | {e["flagged"]} | '
                         f'{_cell(e["precision"])} | {_cell(e["recall"])} |')
    lines += ['', '| rule | best precision at recall ≥ 0.85 | items flagged there |', '| --- | --- | --- |']
    lines += [f'| {rule} | {_cell(f["precision_at_recall_085"])} | {f["flagged_at_recall_085"] or "—"} |'
              for rule, f in r['rules'].items()]
    lines += ['', '| ranking | best precision at recall ≥ 0.85 (its order alone) | its fitted threshold: recall | '
                  'estimated precision at the catalog\'s own rate |', '| --- | --- | --- | --- |']
    lines += [f'| {name} | {_cell(f["precision_at_recall_085"])} | {_cell(f["fit"]["recall"])} | '
              f'{_cell(f["fit"]["own_rate_precision"])} |' for name, f in r.get('rankings', {}).items()]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--work', default=os.path.join(bench.ROOT, 'runs', 'noisy-5'))
    parser.add_argument('--rate', type=float, default=0.05)
    parser.add_argument('--folds', type=int, default=2)
    parser.add_argument('--training-run', help="a default model's training_run.json, trained on this machine")
    args, train_flags = parser.parse_known_args(argv)
    flipped = set(noisy_training.noisy_catalog(args.catalog, args.rate, args.work)['flipped'])
    audit_dir = os.path.join(args.work, 'audit')
    if not os.path.exists(os.path.join(audit_dir, artifacts.SUMMARY)):
        command = [noisy_training.BIN, 'audit', '--catalog', os.path.join(args.work, 'catalog'), '--output', audit_dir,
                   '--folds', str(args.folds), *train_flags]
        print('running:', ' '.join(command), flush=True)
        subprocess.run(command, check=True)
    result = dict(measure(audit_dir, flipped, args.training_run), machine=bench.machine())
    nightly_path = os.path.join(args.work, 'noisy_training.json')
    nightly = None
    if os.path.exists(nightly_path):
        with open(nightly_path, encoding='utf-8') as f:
            nightly = json.load(f)
    with open(os.path.join(args.work, 'audit_noise.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(result, nightly=nightly), f, indent=1)
    print('\n'.join(markdown_lines(result, nightly)))


if __name__ == '__main__':
    main()
