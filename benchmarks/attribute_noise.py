"""The attribute flags and fill-in of the full-labels model on the real catalog's test split, through the score job
(rules/attributes.py).

    .venv/bin/python benchmarks/attribute_noise.py --catalog ../shared/data/fashion-product-images-small \
        --prepared PREPARED_DIR --model-dir MODEL_DIR --work DIR [--rates 0.1,0.02]

Per flagged attribute (gender, baseColour) and rate, a catalog of the test items in which a seeded share of those
with a value take the value of an item in another group of values (rules/noise.flip_labels across the declared
groups: an unrelated value, never a neighbour such as Navy Blue for Blue; values the flags never question, a
rare one or one of the group ANY such as Unisex, are neither swapped nor given). Precision = flagged and swapped /
flagged, recall = flagged and swapped / swapped, overall and by `<c>_evidence`. Precision is a lower bound: the
test split's own wrong values count as false flags; WORK/false-<attribute>-<rate>.tsv lists them, for a person
to judge.

Fill-in: the test items with all four attributes emptied, scored; per attribute the share filled in (the accept
bar, predictions.ACCEPT_MIN_CONFIDENCE) and those items' accuracy against the values they had.
"""
import argparse
import collections
import csv
import json
import os
import subprocess

from pipelines import artifacts
from pipelines.rules import attributes as attributes_lib, catalog, noise, predictions
from pipelines.storage import exported_model

from full_label_noise import test_items, write_catalog  # sibling scripts: benchmarks/ is on sys.path
from label_noise import precision_recall, score

SEED = 1207


def swapped_rows(rows, attribute, model, rate):
    """The rows with a seeded `rate` of those with a known value swapped into another group; (rows, swapped ids)."""
    group_of = dict(zip(model.attributes.values[attribute], model.attributes.groups[attribute]))
    with_value = [i for i, r in enumerate(rows) if model.attributes.index(attribute, r[attribute]) >= 0
                  and not attributes_lib.unflaggable(group_of.get(r[attribute].strip(), attributes_lib.OTHER))]
    values = [rows[i][attribute] for i in with_value]
    groups = [group_of[v.strip()] for v in values]
    donors = noise.flip_labels(groups, groups, rate, SEED)  # a group as its own class: every donor is of another
    rows, swapped = list(rows), set()
    for index, donor in donors.items():
        row = rows[with_value[index]]
        rows[with_value[index]] = dict(row, **{attribute: values[donor]})
        swapped.add(row['id'])
    return rows, swapped


def flag_figures(records, swapped, column):
    flagged = {r['id'] for r in records if r[f'disagrees_{column}']}
    out = precision_recall(flagged, swapped)
    by_evidence = collections.defaultdict(set)
    for r in records:
        if r[f'disagrees_{column}']:
            by_evidence[r[f'{column}_evidence']].add(r['id'])
    out['by_evidence'] = {evidence: {'flagged': len(ids), 'flagged_and_swapped': len(ids & swapped),
                                     'precision': round(len(ids & swapped) / len(ids), 4)}
                          for evidence, ids in sorted(by_evidence.items())}
    return out


def _fresh(work, name):
    folder = os.path.join(work, name)
    subprocess.run(['rm', '-rf', folder], check=True)
    return folder


def measure(catalog_dir, prepared, model_dir, work, rates):
    export = exported_model.newest_version(os.path.join(model_dir, artifacts.EXPORT))
    model = exported_model.load_exported(export)
    if not model.attributes:
        raise SystemExit(f'{export} has no attribute heads')
    items = test_items(prepared)
    with open(catalog.styles_path(catalog_dir), encoding='utf-8-sig', newline='') as f:
        rows = sorted((r for r in csv.DictReader(f) if r['id'] in items), key=lambda r: int(r['id']))
    result = {'export': export, 'test_items': len(rows), 'seed': SEED, 'rates': {}}
    for rate in rates:
        for attribute in ('gender', 'baseColour'):
            column = attributes_lib.COLUMN[attribute]
            folder = _fresh(work, f'{column}-{rate:g}')
            noisy, swapped = swapped_rows(rows, attribute, model, rate)
            write_catalog(catalog_dir, noisy, os.path.join(folder, 'catalog'))
            records = score(os.path.join(folder, 'catalog'), export, os.path.join(folder, 'scores'))
            entry = flag_figures(records, swapped, column)
            result['rates'].setdefault(f'{rate:g}', {})[column] = entry
            print(json.dumps({f'{rate:g}': {column: entry}}), flush=True)
            with open(os.path.join(work, f'false-{column}-{rate:g}.tsv'), 'w', encoding='utf-8') as f:
                for r in records:
                    if r[f'disagrees_{column}'] and r['id'] not in swapped:
                        f.write('\t'.join(str(r[c]) for c in ('id', 'productDisplayName', attribute,
                                                               f'predicted_{column}', f'{column}_evidence')) + '\n')
    folder = _fresh(work, 'fill-in')
    write_catalog(catalog_dir, [dict(r, **dict.fromkeys(attributes_lib.ATTRIBUTES, '')) for r in rows],
                  os.path.join(folder, 'catalog'))
    truth = {r['id']: r for r in rows}
    records = score(os.path.join(folder, 'catalog'), export, os.path.join(folder, 'scores'))
    result['fill_in'] = {'accept_min_confidence': predictions.ACCEPT_MIN_CONFIDENCE}
    for attribute in model.attributes.values:
        column = attributes_lib.COLUMN[attribute]
        judged = [r for r in records if not attributes_lib.is_missing(truth[r['id']][attribute])]
        filled = [r for r in judged if r[f'{column}_filled']]
        result['fill_in'][column] = {
            'items': len(judged), 'filled_share': round(len(filled) / max(len(judged), 1), 4),
            'filled_accuracy': round(sum(r[f'predicted_{column}'] == truth[r['id']][attribute] for r in filled)
                                     / max(len(filled), 1), 4)}
    print(json.dumps({'fill_in': result['fill_in']}), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--prepared', required=True)
    parser.add_argument('--model-dir', required=True)
    parser.add_argument('--work', required=True)
    parser.add_argument('--rates', default='0.1,0.02')
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    result = measure(args.catalog, args.prepared, args.model_dir, args.work,
                     [float(r) for r in args.rates.split(',')])
    with open(os.path.join(args.work, 'attribute_noise.json'), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
