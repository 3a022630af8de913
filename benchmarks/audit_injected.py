"""The audit's rankings against label noise injected after training, from a published audit's saved predictions.

    .venv/bin/python benchmarks/audit_injected.py --audit AUDIT_DIR [--rate 0.05] [--seed 7]

For each kind of noise, a seeded --rate of the audited items take another item's label: `other_class` (a donor
of another Class: the label is wrong at Class level) or `same_class` (a donor of another articleType in the same
Class: Tshirts for Shirts, Sandals for Flip Flops). Then each ranking (rules/audit.RANKINGS) is fitted on the
noisy labels as the audit fits it, and its threshold issues are scored against the injected labels, overall and
per split of the prepare job: precision (a lower bound: the catalog's own mislabels count as false), recall, and
the estimated precision at the catalog's own rate, which here is the injected rate plus the catalog's own.

The models trained on the catalog's own labels and never on the injected ones, so this is easier than noise in
the training data (benchmarks/audit_noise.py trains on the noisy catalog: two trainings, about an hour each here).
Writes AUDIT_DIR/../audit_injected.json and prints a markdown table.
"""
import argparse
import collections
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from pipelines import artifacts  # noqa: E402  pylint: disable=wrong-import-position
from pipelines.jobs import audit  # noqa: E402  pylint: disable=wrong-import-position
from pipelines.rules import (  # noqa: E402  pylint: disable=wrong-import-position
    audit as audit_rules, neighbours, overlap)
from pipelines.storage import files  # noqa: E402  pylint: disable=wrong-import-position

KINDS = ('other_class', 'same_class')


def inject(given, leaf_class, rate, kind, seed):
    """(noisy given leaves, flipped mask): a seeded `rate` of the items take a donor item's leaf."""
    rng = np.random.default_rng(seed)
    by_class = collections.defaultdict(list)
    for index, leaf in enumerate(given):
        by_class[leaf_class[leaf]].append(index)
    noisy, flipped = given.copy(), np.zeros(len(given), bool)
    for index in rng.permutation(len(given)):
        if flipped.sum() >= round(rate * len(given)):
            break
        own = leaf_class[given[index]]
        if kind == 'other_class':
            donor = rng.integers(len(given))
            if leaf_class[given[donor]] == own:
                continue
        else:
            members = by_class[own]
            donor = members[rng.integers(len(members))]
            if given[donor] == given[index]:
                continue
        noisy[index], flipped[index] = given[donor], True
    return noisy, flipped


def measure(audit_dir, rate, seed):
    summary = files.read_json(os.path.join(audit_dir, artifacts.SUMMARY))
    listing = audit.read_listing(os.path.join(audit_dir, artifacts.FOLDS_CSV))
    results = [audit.load_fold(os.path.join(audit_dir, artifacts.AUDIT_MODELS, f'fold-{fold}'))
               for fold in range(summary['folds'])]
    names, parents, given_all, heads_all = audit_rules.combine(listing, results)
    audited = given_all >= 0
    given = given_all[audited]
    heads = {h: p[audited] for h, p in heads_all.items()}
    splits = listing['split'].to_numpy()[audited]
    leaf_class = [parents[name][2] for name in names]
    out = {'audit': audit_dir, 'audited': int(audited.sum()), 'rate': rate, 'seed': seed, 'kinds': {}}
    for kind in KINDS:
        noisy, flipped = inject(given, leaf_class, rate, kind, seed)
        rows = {}
        adjacency = overlap.adjacency(names, overlap.pairs(noisy, heads[audit_rules.FUSED], names, neighbours.load()))
        for ranking in audit_rules.RANKINGS:
            _, scored, fit = audit_rules.fit_ranking(heads, noisy, parents, names, ranking, adjacency)
            issues = audit_rules.threshold_issues(scored, noisy, fit['max_given_probability'])
            row = {'issues': int(issues.sum()), 'own_rate_precision': fit['own_rate_precision'],
                   'own_rate_precision_interval': fit['own_rate_precision_interval']}
            for split in ('all', 'train', 'val', 'test'):
                inside = np.ones(len(noisy), bool) if split == 'all' else splits == split
                precision, recall = audit_rules.precision_recall(issues[inside], flipped[inside])
                row[split] = {'precision': precision, 'recall': recall}
            rows[ranking] = row
        out['kinds'][kind] = {'flipped': int(flipped.sum()), 'rankings': rows}
    return out


def markdown(result):
    lines = ['| noise | ranking | issues | precision | recall | recall train / val / test | estimated precision at '
             'the catalog\'s own rate |', '| --- | --- | --- | --- | --- | --- | --- |']
    for kind, entry in result['kinds'].items():
        for ranking, row in entry['rankings'].items():
            low, high = row['own_rate_precision_interval'] or (None, None)
            lines.append(f'| {kind} | {ranking} | {row["issues"]} | {row["all"]["precision"]} | {row["all"]["recall"]} '
                         f'| {row["train"]["recall"]} / {row["val"]["recall"]} / {row["test"]["recall"]} | '
                         f'{row["own_rate_precision"]} ({low}–{high}) |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--audit', required=True)
    parser.add_argument('--rate', type=float, default=0.05)
    parser.add_argument('--seed', type=int, default=7)
    args = parser.parse_args(argv)
    result = measure(args.audit, args.rate, args.seed)
    with open(os.path.join(os.path.dirname(os.path.abspath(args.audit)), 'audit_injected.json'), 'w',
              encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    print(markdown(result))


if __name__ == '__main__':
    main()
