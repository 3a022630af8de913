"""How well the mislabel flags find mislabels: seeded label noise injected into the real catalog's test split.

    .venv/bin/python benchmarks/label_noise.py --catalog ../shared/data/fashion-product-images-small \
        --prepared PREPARED_DIR --model-dir MODEL_DIR [--work DIR] [--rates 0.1,0.02,0.01]

For each rate, a seeded share of the test split's items (never trained on: the ids of PREPARED_DIR's test
TFRecords) take the labels of an item of another Class, half within their masterCategory, half anywhere
(pipelines/rules/noise.py). The score job, as a user runs it, scores that catalog (images linked, not
copied) with MODEL_DIR's newest export at the default settings. Precision = flagged and flipped / flagged,
recall = flagged and flipped / flipped; the precision-recall curve sweeps `--disagree-min-confidence` over
the same predictions, through the rule the job applies (predictions.flags_mislabel). Precision is a lower
bound: the catalog has mislabels of its own, counted here as false flags. WORK/flags.html shows the
unflipped items flagged with the highest confidence, as images, so a reader can judge them (it embeds
catalog images: keep it out of the repository). Also run by `make bench` (`bench.py --only flags`).
"""
import argparse
import base64
import csv
import glob
import html
import io
import json
import os
import subprocess
import sys

import matplotlib
import pyarrow.parquet as pq

from pipelines import artifacts
from pipelines.rules import catalog, noise, predictions
from pipelines.storage import exported_model, files
from pipelines.rules.taxonomy import Taxonomy

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATES = (0.10, 0.02, 0.01)
SEED = 1129
KNOBS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
SHOWN = 20


def test_split(prepared):
    """{id: class name} of the prepared test split."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (only to read the TFRecords)
    classes = {}
    for path in sorted(tf.io.gfile.glob(artifacts.tfrecord_pattern(prepared, 'test'))):
        for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            classes[feature['id'].bytes_list.value[0].decode()] = feature['class_name'].bytes_list.value[0].decode()
    return classes


def noisy_catalog(catalog_dir, rows, classes, masters, rate, output):
    """Writes the test items' catalog with a seeded `rate` of them flipped; returns the flipped ids."""
    ordered = sorted(rows, key=lambda r: int(r['id']))
    donors = noise.flip_labels([classes[r['id']] for r in ordered], [masters[classes[r['id']]] for r in ordered],
                               rate, SEED)
    flipped = set()
    for index, donor in donors.items():
        ordered[index] = dict(ordered[index], **{c: ordered[donor][c] for c in catalog.LABEL_COLUMNS})
        flipped.add(ordered[index]['id'])
    os.makedirs(os.path.join(output, artifacts.IMAGES))
    with open(os.path.join(output, artifacts.STYLES), 'w', encoding='utf-8', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=catalog.COLUMNS, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(ordered)
    for row in ordered:
        os.symlink(os.path.abspath(catalog.image_path(catalog_dir, row['id'])), catalog.image_path(output, row['id']))
    return flipped


def score(catalog_dir, export, output):
    """The score job's records, through the CLI as a user runs it (default settings)."""
    subprocess.run([os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline'), 'score', '--catalog',
                    catalog_dir, '--model', export, '--output', output], check=True, stdout=subprocess.DEVNULL)
    tables = [pq.read_table(p) for p in sorted(glob.glob(os.path.join(output, f'{artifacts.PREDICTIONS}-*.parquet')))]
    return [r for t in tables for r in t.to_pylist()]


def precision_recall(flagged, flipped):
    hits = len(flagged & flipped)
    return {'flagged': len(flagged), 'flipped': len(flipped), 'flagged_and_flipped': hits,
            'precision': hits / len(flagged) if flagged else None, 'recall': hits / len(flipped) if flipped else None}


def flagged_at(records, knob, max_given_probability):
    return {r['id'] for r in records if predictions.flags_mislabel(
        r['given_class'], r['predicted_class'], r['confidence'], r['given_class_probability'], knob,
        max_given_probability)}


def measure(catalog_dir, prepared, model_dir, work, rates=RATES):
    """The figures, per rate: at the default settings (as the job flagged) and along the knob."""
    export = exported_model.newest_version(os.path.join(model_dir, artifacts.EXPORT))
    model = exported_model.load_exported(export)
    classes = test_split(prepared)
    with open(catalog.styles_path(catalog_dir), encoding='utf-8-sig', newline='') as f:
        rows = [r for r in csv.DictReader(f) if r['id'] in classes]
    masters = Taxonomy.from_dict(model.taxonomy).master_categories()
    with open(os.path.join(model_dir, artifacts.METRICS), encoding='utf-8') as f:
        metrics = json.load(f)
    result = {'model_dir': model_dir, 'export': export, 'test_items': len(rows), 'seed': SEED,
              'default_knob': predictions.DISAGREE_MIN_CONFIDENCE,
              'max_given_probability': model.flag_max_given_probability, 'temperature': model.temperature,
              'ece': {k: metrics.get(f'test.{k}') for k in ('ece_uncalibrated', 'ece')},
              'test_accuracy': metrics['test.accuracy'], 'rates': {}}
    for rate in rates:
        folder = os.path.join(work, f'noise-{rate:g}')
        subprocess.run(['rm', '-rf', folder], check=True)
        flipped = noisy_catalog(catalog_dir, rows, classes, masters, rate, os.path.join(folder, 'catalog'))
        records = score(os.path.join(folder, 'catalog'), export, os.path.join(folder, 'scores'))
        as_flagged = {r['id'] for r in records if r['disagrees']}
        entry = dict(precision_recall(as_flagged, flipped), scored=len(records), curve=[
            dict(precision_recall(flagged_at(records, knob, model.flag_max_given_probability), flipped), knob=knob)
            for knob in KNOBS], confidence_only_at_0_9=precision_recall(flagged_at(records, 0.9, 1.0), flipped))
        result['rates'][f'{rate:g}'] = entry
        if rate == max(rates):
            result['html'] = write_html(catalog_dir, records, flipped, as_flagged, entry, model,
                                        os.path.join(work, 'flags.html'))
    return result


def _image_tag(catalog_dir, row_id):
    data = files.read_bytes(catalog.image_path(catalog_dir, row_id))
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(data).decode()}" width="90">'


def write_html(catalog_dir, records, flipped, flagged, entry, model, path):
    """The precision-recall curve, and the unflipped items flagged with the highest confidence."""
    fig, ax = plt.subplots(figsize=(5, 4))
    curve = [p for p in entry['curve'] if p['precision'] is not None]
    ax.plot([p['recall'] for p in curve], [p['precision'] for p in curve], marker='o')
    for p in curve:
        ax.annotate(f'{p["knob"]:g}', (p['recall'], p['precision']), fontsize=7)
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel('recall (flagged and flipped / flipped)')
    ax.set_ylabel('precision (flagged and flipped / flagged)')
    ax.set_title('Flags as --disagree-min-confidence sweeps')
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    unflipped = sorted((r for r in records if r['id'] in flagged - flipped), key=lambda r: -r['confidence'])
    cards = ''.join(
        f'<div class="card">{_image_tag(catalog_dir, r["id"])}<br>{html.escape(r["id"])} '
        f'{html.escape(r["productDisplayName"])}<br>given: '
        f'{html.escape(" / ".join(r[c] for c in catalog.LABEL_COLUMNS))}'
        f' ({html.escape(r["given_class"])}, p={r["given_class_probability"]:.4f})<br>predicted: '
        f'<b>{html.escape(r["predicted_class"])}</b> {r["confidence"]:.3f}</div>' for r in unflipped[:SHOWN])
    with open(path, 'w', encoding='utf-8') as f:
        f.write(f'''<!doctype html><meta charset="utf-8"><title>Mislabel flags against injected noise</title>
<style>body{{font-family:sans-serif;margin:2em}} .card{{display:inline-block;width:200px;vertical-align:top;
margin:6px;font-size:12px}}</style>
<h1>Mislabel flags against injected noise</h1>
<p>Model {html.escape(model.export_id)}; {entry["scored"]} test items scored, {entry["flipped"]} flipped;
{entry["flagged"]} flagged at the default settings: precision {entry["precision"]:.3f}, recall
{entry["recall"]:.3f}.</p>
<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">
<h2>The {min(SHOWN, len(unflipped))} unflipped items flagged with the highest confidence</h2>
<p>Counted as false flags above: judge whether the catalog's own label or the model is wrong.</p>
{cards}
''')
    return path


def markdown_lines(r):
    """The BENCHMARKS.md section."""
    lines = [f'Mislabel flags against injected label noise (`benchmarks/label_noise.py`, seed {r["seed"]}, model '
             f'{r["model_dir"]}): the '
             f'{r["test_items"]} items of the real catalog\'s test split, a share of them given the labels of an item '
             'of another Class (half within their masterCategory), scored by the score job at its default '
             f'settings (`--disagree-min-confidence {r["default_knob"]}`; the export\'s fitted threshold on the given '
             f'class\'s calibrated probability: {r["max_given_probability"]:.4g}; temperature '
             f'{r["temperature"]:.3f}; test accuracy {r["test_accuracy"]:.4f}). Test ECE (15 bins) '
             f'{r["ece"]["ece_uncalibrated"]:.4f} before calibration, {r["ece"]["ece"]:.4f} after (target ≤ 0.015).',
             '', '| noise | flipped | flagged | precision | recall | target | met | confidence ≥ 0.9 alone: '
             'precision / recall |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for rate, e in r['rates'].items():
        target = 'precision ≥ 0.90, recall ≥ 0.85' if float(rate) == 0.1 else '(shows what share of flags is real)'
        met = ('yes' if e['precision'] >= 0.9 and e['recall'] >= 0.85 else 'no') if float(rate) == 0.1 else ''
        old = e['confidence_only_at_0_9']
        lines.append(f'| {float(rate):.0%} | {e["flipped"]} | {e["flagged"]} | {e["precision"]:.3f} | '
                     f'{e["recall"]:.3f} | {target} | {met} | {old["precision"]:.3f} / {old["recall"]:.3f} |')
    top = r['rates'][max(r['rates'], key=float)]
    lines += ['', f'Precision-recall as `--disagree-min-confidence` sweeps, at {float(max(r["rates"], key=float)):.0%} '
                  'noise: ' + ', '.join(f'{p["knob"]:g}: {p["precision"]:.3f} / {p["recall"]:.3f}'
                                        for p in top['curve'] if p['precision'] is not None) + '.']
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--prepared', required=True, help="the prepare output the model was trained on")
    parser.add_argument('--model-dir', required=True)
    parser.add_argument('--work', default=os.path.join(ROOT, 'runs', 'label-noise'))
    parser.add_argument('--rates', default=','.join(f'{r:g}' for r in RATES))
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    result = measure(args.catalog, args.prepared, args.model_dir, args.work,
                     [float(r) for r in args.rates.split(',')])
    with open(os.path.join(args.work, 'label_noise.json'), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    print('\n'.join(markdown_lines(result)))
    print(f'\nimages of the unflipped flagged items: {result["html"]}')


if __name__ == '__main__':
    main()
