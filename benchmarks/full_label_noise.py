"""The full-labels model's flags and fill-in on the real catalog's test split, through the score job.

    .venv/bin/python benchmarks/full_label_noise.py --catalog ../shared/data/fashion-product-images-small \
        --prepared PREPARED_DIR --model-dir MODEL_DIR --work DIR [--rates 0.1,0.02]

Two kinds of seeded noise, in separate catalogs so they never overlap, at each rate:
- other-Class: a share of the test items take the labels of an item of another Class (rules/noise.flip_labels,
  half within the masterCategory); the `disagrees` flag should find them;
- same-Class: a share take the labels of an item of the same Class with another articleType (flip_labels with
  within_group, over the types the model knows); the `disagrees_type` flag should find them.
Precision = flagged and flipped / flagged, recall = flagged and flipped / flipped, overall and by `evidence`
(which head alone would flag the label: image, name, both, or combined). Precision is a lower bound: the test
split holds mislabels of its own, counted as false flags; WORK/false-flags-<rate>.tsv lists the false flags of the
other-Class catalogs, for a person to judge.

Fill-in: the test items with their three label columns emptied, scored; the share whose predicted articleType
reaches the accept bar (predictions.ACCEPT_MIN_CONFIDENCE) and those items' articleType accuracy.
"""
import argparse
import collections
import csv
import json
import os
import subprocess

from pipelines import artifacts
from pipelines.rules import catalog, noise, predictions
from pipelines.rules.taxonomy import Taxonomy
from pipelines.storage import exported_model

from label_noise import precision_recall, score  # a sibling script: benchmarks/ is on sys.path when this runs

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
SEED = 1203


def test_items(prepared):
    """{id: (Class, articleType)} of the prepared test split."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (only to read the TFRecords)
    items = {}
    for path in sorted(tf.io.gfile.glob(artifacts.tfrecord_pattern(prepared, 'test'))):
        for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            items[feature['id'].bytes_list.value[0].decode()] = tuple(
                feature[name].bytes_list.value[0].decode() for name in ('class_name', 'articleType'))
    return items


def write_catalog(catalog_dir, rows, output):
    os.makedirs(os.path.join(output, artifacts.IMAGES))
    with open(os.path.join(output, artifacts.STYLES), 'w', encoding='utf-8', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=catalog.COLUMNS, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        os.symlink(os.path.abspath(catalog.image_path(catalog_dir, row['id'])), catalog.image_path(output, row['id']))


def flipped_rows(rows, labels, groups, rate, within_group):
    """The rows with a seeded `rate` flipped (labels and groups per row); returns (rows, flipped ids)."""
    donors = noise.flip_labels(labels, groups, rate, SEED, within_group)
    rows, flipped = list(rows), set()
    for index, donor in donors.items():
        rows[index] = dict(rows[index], **{c: rows[donor][c] for c in catalog.LABEL_COLUMNS})
        flipped.add(rows[index]['id'])
    return rows, flipped


def flag_figures(records, flipped, column):
    flagged = {r['id'] for r in records if r[column]}
    out = precision_recall(flagged, flipped)
    by_evidence = collections.defaultdict(set)
    for r in records:
        if r[column]:
            by_evidence[r['evidence']].add(r['id'])
    out['by_evidence'] = {evidence: {'flagged': len(ids), 'flagged_and_flipped': len(ids & flipped),
                                     'precision': round(len(ids & flipped) / len(ids), 4)}
                          for evidence, ids in sorted(by_evidence.items())}
    return out


def measure(catalog_dir, prepared, model_dir, work, rates):
    export = exported_model.newest_version(os.path.join(model_dir, artifacts.EXPORT))
    model = exported_model.load_exported(export)
    items = test_items(prepared)
    with open(catalog.styles_path(catalog_dir), encoding='utf-8-sig', newline='') as f:
        rows = sorted((r for r in csv.DictReader(f) if r['id'] in items), key=lambda r: int(r['id']))
    masters = Taxonomy.from_dict(model.taxonomy).master_categories()
    result = {'export': export, 'test_items': len(rows), 'seed': SEED, 'rates': {}}
    classes = [items[r['id']][0] for r in rows]
    known = [r for r in rows if model.leaves.known(r['articleType'])]
    for rate in rates:
        entry = {}
        folder = os.path.join(work, f'class-{rate:g}')
        subprocess.run(['rm', '-rf', folder], check=True)
        noisy, flipped = flipped_rows(rows, classes, [masters.get(c, c) for c in classes], rate, False)
        write_catalog(catalog_dir, noisy, os.path.join(folder, 'catalog'))
        records = score(os.path.join(folder, 'catalog'), export, os.path.join(folder, 'scores'))
        entry['other_class'] = flag_figures(records, flipped, 'disagrees')
        with open(os.path.join(work, f'false-flags-{rate:g}.tsv'), 'w', encoding='utf-8') as f:
            for r in sorted((r for r in records if r['disagrees'] and r['id'] not in flipped),
                            key=lambda r: r['given_class_probability']):
                f.write('\t'.join(str(r[c]) for c in ('id', 'productDisplayName', 'articleType', 'given_class',
                                                       'predicted_class', 'predicted_type', 'evidence')) + '\n')
        folder = os.path.join(work, f'type-{rate:g}')
        subprocess.run(['rm', '-rf', folder], check=True)
        types = [r['articleType'] for r in known]
        noisy_known, flipped = flipped_rows(known, types, [model.leaves.class_names[model.leaves.index(t)]
                                                           for t in types], rate, True)
        write_catalog(catalog_dir, noisy_known, os.path.join(folder, 'catalog'))
        records = score(os.path.join(folder, 'catalog'), export, os.path.join(folder, 'scores'))
        entry['same_class'] = dict(flag_figures(records, flipped, 'disagrees_type'), items=len(known),
                                   flagged_as_class=len({r['id'] for r in records if r['disagrees']} & flipped))
        result['rates'][f'{rate:g}'] = entry
        print(json.dumps({f'{rate:g}': entry}), flush=True)
    folder = os.path.join(work, 'fill-in')
    subprocess.run(['rm', '-rf', folder], check=True)
    write_catalog(catalog_dir, [dict(r, masterCategory='', subCategory='', articleType='') for r in rows],
                  os.path.join(folder, 'catalog'))
    truth = {r['id']: r['articleType'] for r in rows}
    records = score(os.path.join(folder, 'catalog'), export, os.path.join(folder, 'scores'))
    kept = [r for r in records if r['predicted_type'] and r['type_confidence'] >= predictions.ACCEPT_MIN_CONFIDENCE]
    of_known = [r for r in records if model.leaves.known(truth[r['id']])]
    result['fill_in'] = {
        'items': len(records), 'accept_min_confidence': predictions.ACCEPT_MIN_CONFIDENCE,
        'kept_share': round(len(kept) / len(records), 4),
        'kept_accuracy': round(sum(r['predicted_type'] == truth[r['id']] for r in kept) / max(len(kept), 1), 4),
        'all_accuracy_known_types': round(sum(r['predicted_type'] == truth[r['id']] for r in of_known)
                                          / max(len(of_known), 1), 4)}
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
    with open(os.path.join(args.work, 'full_label_noise.json'), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
