"""Report: the catalog, the model and the scores in figures, as one self-contained HTML page.

    fashion-pipeline report --prepared DIR [--validation DIR] [--model-dir DIR] [--scores DIR] [--audit DIR]
                            [--reviews FILE] --output report.html

Everything is inlined (plotly.js, images as data: URIs) and the page's Content-Security-Policy forbids any
request, so it opens offline and never fetches. A section whose input is missing is replaced by a one-line
note. Figures follow the reference notebook's report: counts per label column and Class (log scale), the hierarchy as
sunbursts, the balance table, TFDV statistics and anomalies, the Free Items relabel, sample images per
class, training curves, the classification report (sortable), the confusion matrix, misclassified images,
the calibration (reliability diagram, risk-coverage curve, how flags are decided, confusable class pairs), and
the scoring summary with the Unknown items now labelled and the most suspicious disagreements, the audit's
top issues and its noise estimate per class (`--audit`), its taxonomy overlap report (pairs of types used for
the same product, with items each way and reviewers' decisions on them), and what reviewers decided
(`--reviews`): per class pair of flags, how often the given label was wrong.
"""
import argparse
import base64
import collections
import contextlib
import csv
import dataclasses
import html
import io
import json
import sys

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import catalog, decisions, judged, overlap, predictions
from pipelines.storage import files, reviews

SAMPLES_PER_CLASS = 6
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "font-src data:")
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-top: 1em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th.sortable { cursor: pointer; background: #f3f3f3; } p.note { color: #777; font-style: italic; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; } .grid figure { margin: 0; width: 96px; font-size: 0.7em; }
.grid img { width: 60px; height: 80px; object-fit: contain; display: block; }
img.figure { max-width: 100%; }
"""
# Counts on <html> any request the page would have made (the CSP blocks it), and makes tables sortable.
SCRIPT = """
document.addEventListener('securitypolicyviolation', function (e) {
  var root = document.documentElement;
  root.setAttribute('data-blocked-requests', String(Number(root.getAttribute('data-blocked-requests')) + 1));
  root.setAttribute('data-last-blocked', e.blockedURI + ' (' + e.violatedDirective + ')');
});
function sortTable(th) {
  var table = th.closest('table'), body = table.tBodies[0], index = th.cellIndex;
  var ascending = th.getAttribute('data-order') !== 'asc';
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[index].textContent, y = b.cells[index].textContent;
    var nx = parseFloat(x), ny = parseFloat(y);
    var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return ascending ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
  th.setAttribute('data-order', ascending ? 'asc' : 'desc');
}
"""


@dataclasses.dataclass
class Section:
    key: str
    title: str
    body: str = ''
    note: str = ''


def _figure(fig, height=None):
    fig.update_layout(margin={'l': 40, 'r': 20, 't': 40, 'b': 40}, height=height)
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={'displaylogo': False})


def _table(header, rows, sortable=False):
    cls = ' class="sortable" onclick="sortTable(this)"' if sortable else ''
    head = ''.join(f'<th{cls}>{html.escape(str(h))}</th>' for h in header)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(_cell(v))}</td>' for v in row) + '</tr>' for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value):
    return f'{value:.4f}' if isinstance(value, float) else str(value)


def _data_uri(data, mime):
    return f'data:{mime};base64,{base64.b64encode(data).decode("ascii")}'


def _png(folder, name, alt):
    data = files.read_bytes(FileSystems.join(folder, name))
    return f'<img class="figure" alt="{html.escape(alt)}" src="{_data_uri(data, "image/png")}">'


def _grid(items):
    """items: (JPEG bytes, caption) -> a grid of thumbnails."""
    return '<div class="grid">' + ''.join(
        f'<figure><img alt="" src="{_data_uri(data, "image/jpeg")}"><figcaption>{html.escape(caption)}'
        '</figcaption></figure>' for data, caption in items) + '</div>'


def _log_bars(counts, title):
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    fig = go.Figure(go.Bar(x=[k for k, _ in ordered], y=[v for _, v in ordered]))
    fig.update_layout(title=title, yaxis_type='log')
    return _figure(fig, height=420)


def counts_section(manifest):
    values = manifest.get('value_counts')
    if not values:
        return Section('counts', 'Counts per label', note='the prepared manifest predates per-label counts; '
                                                          'run prepare again to see them')
    class_totals = {}
    for split_counts in manifest['class_counts'].values():
        for name, n in split_counts.items():
            class_totals[name] = class_totals.get(name, 0) + n
    body = ''.join(_log_bars(values[column], f'{column} (log scale)') for column in catalog.LABEL_COLUMNS)
    body += _log_bars(class_totals, 'Class, trained items (log scale)')
    return Section('counts', 'Counts per label', body)


def _sunburst(frame, path, title):
    """A plotly sunburst of `frame`'s `count` column over the columns of `path`, root first."""
    fig = px.sunburst(frame, path=path, values='count', maxdepth=3)
    fig.update_layout(title=title)
    return _figure(fig, height=620)


def hierarchy_section(manifest):
    combos = manifest.get('label_combos')
    if not combos:
        return Section('hierarchy', 'Hierarchy', note='the prepared manifest predates label combinations; '
                                                      'run prepare again to see them')
    frame = pd.DataFrame(combos, columns=[*catalog.LABEL_COLUMNS, 'Class', 'count'])
    body = _sunburst(frame, list(catalog.LABEL_COLUMNS), 'masterCategory → subCategory → articleType')
    body += _sunburst(frame, ['Class', 'articleType'], 'Class → articleType')
    return Section('hierarchy', 'Hierarchy', body)


def balance_section(manifest, validation_dir):
    rows = [(name, value) for name, value in manifest['balance'].items()]
    body = ('<p>Normalised Shannon entropy (1 = perfectly balanced), as in §2.5 of the reference notebook\'s '
            'report.</p>')
    body += _table(('label', 'balance'), rows)
    body += _table(('rows read', 'kept', 'quarantined', 'by reason'),
                   [(manifest['rows_read'], manifest['rows_kept'], manifest['rows_quarantined'],
                     json.dumps(manifest['quarantined_by_reason']))])
    if validation_dir is None or not files.exists(validation_dir, artifacts.MANIFEST):
        return Section('balance', 'Balance and validation', body, note='no --validation report given: the TFDV '
                                                                       'statistics and anomalies are left out')
    report = files.read_json(FileSystems.join(validation_dir, artifacts.MANIFEST))
    body += f'<p>Validation verdict: <b>{html.escape(report.get("verdict", "?"))}</b></p>'
    body += _table(('kind', 'anomaly'), [('BREAKING', line) for line in report.get('breaking', [])]
                   + [('warning', line) for line in report.get('warnings', [])]) if (
        report.get('breaking') or report.get('warnings')) else '<p>No anomalies.</p>'
    if files.exists(validation_dir, artifacts.STATS):
        body += _statistics_table(FileSystems.join(validation_dir, artifacts.STATS))
    return Section('balance', 'Balance and validation', body)


def _statistics_table(path):
    with contextlib.redirect_stderr(io.StringIO()):  # TFDV notes at import that IPython is missing
        import tensorflow_data_validation as tfdv  # pylint: disable=import-outside-toplevel  (slow import)
    statistics = tfdv.load_stats_binary(path)
    dataset = statistics.datasets[0]
    rows = []
    for feature in dataset.features:
        name = feature.path.step[0] if feature.path.step else feature.name
        if feature.HasField('string_stats'):
            common, detail = feature.string_stats.common_stats, feature.string_stats
            top = ', '.join(f'{v.value} ({int(v.frequency)})' for v in detail.top_values[:3])
            rows.append((name, 'string', common.num_non_missing, common.num_missing, detail.unique, top))
        elif feature.HasField('num_stats'):
            common, detail = feature.num_stats.common_stats, feature.num_stats
            rows.append((name, 'number', common.num_non_missing, common.num_missing, '',
                         f'min {detail.min:g}, mean {detail.mean:.1f}, max {detail.max:g}'))
    return (f'<p>TFDV statistics over {dataset.num_examples} rows.</p>'
            + _table(('feature', 'type', 'present', 'missing', 'unique', 'top values / range'), rows, True))


def relabel_section(manifest, prepared_dir):
    relabel = manifest['relabel']
    body = (f'<p>{relabel["matched"]} "{html.escape(relabel["source_label"])}" items matched a class, '
            f'{relabel["unknown"]} left Unknown (similarity below {relabel["min_similarity"]}).</p>')
    body += _table(('id', 'class', 'best match', 'similarity'),
                   [(r['id'], r['class'], r['best_match'], r['similarity']) for r in relabel['sample']], True)
    if files.exists(prepared_dir, artifacts.UNKNOWN_CSV):
        reader = csv.DictReader(io.StringIO(files.read_text(FileSystems.join(prepared_dir, artifacts.UNKNOWN_CSV))))
        unknown = [(r['id'], r['productDisplayName'], r['best_match'], r['similarity']) for r in reader]
        body += '<h3>Left Unknown</h3>' + _table(('id', 'display name', 'best match', 'similarity'), unknown, True)
    return Section('relabel', 'Free Items relabel', body)


def samples_section(prepared_dir, classes):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (slow import)
    pattern = artifacts.tfrecord_pattern(prepared_dir, 'train')
    shards = sorted(tf.io.gfile.glob(pattern))
    if not shards:
        return Section('samples', 'Sample images per class', note=f'no training TFRecords at {pattern}')
    found = {name: [] for name in classes}
    for record in tf.data.TFRecordDataset(shards, compression_type='GZIP'):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        name = feature['class_name'].bytes_list.value[0].decode('utf-8')
        if name in found and len(found[name]) < SAMPLES_PER_CLASS:
            found[name].append((feature['image'].bytes_list.value[0], feature['id'].bytes_list.value[0].decode()))
        if all(len(items) >= SAMPLES_PER_CLASS for items in found.values()):
            break
    body = ''.join(f'<h3>{html.escape(name)}</h3>' + _grid(items) for name, items in found.items() if items)
    return Section('samples', 'Sample images per class', body)


def _training_curves(log_text):
    rows = list(csv.DictReader(io.StringIO(log_text)))
    epochs = [int(r['epoch']) + 1 for r in rows]
    body = ''
    accuracy = 'accuracy' if rows and 'accuracy' in rows[0] else 'fused_accuracy'  # the full-labels model's
    for metric in ('loss', accuracy):
        fig = go.Figure([go.Scatter(x=epochs, y=[float(r[metric]) for r in rows], name=f'train {metric}'),
                         go.Scatter(x=epochs, y=[float(r[f'val_{metric}']) for r in rows], name=f'val {metric}')])
        fig.update_layout(title=f'{metric} per epoch', xaxis_title='epoch')
        body += _figure(fig, height=360)
    return body


def _confusion(matrix_text):
    frame = pd.read_csv(io.StringIO(matrix_text), index_col=0)
    fig = go.Figure(go.Heatmap(z=frame.values, x=list(frame.columns), y=list(frame.index), colorscale='Blues',
                               hovertemplate='true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>'))
    fig.update_layout(title='Confusion matrix, test split', xaxis_title='predicted', yaxis_title='true',
                      yaxis_autorange='reversed')
    return _figure(fig, height=760)


LEVELS_SHOWN = (('article_type', 'articleType'), ('sub_category', 'subCategory'),
                ('master_category', 'masterCategory'), ('class', 'Class'))


def _whole_label_table(metrics):
    """The full-labels model's test figures per level, for its fused head and each modality alone."""
    rows = []
    for head, prefix in (('image + name', 'test.'), ('image alone', 'test.image_only.'),
                         ('name alone', 'test.name_only.')):
        rows.append((head, *(f'{metrics[f"{prefix}{key}.accuracy"]:.4f} / {metrics[f"{prefix}{key}.macro_f1"]:.4f}'
                             for key, _ in LEVELS_SHOWN)))
    return ('<h3>The whole label, test split (accuracy / macro F1)</h3><p>articleType and its parents over the '
            f'{metrics["test.type_known_share"]:.1%} of items whose type the model predicts; the Class over all.</p>'
            + _table(('head', *(name for _, name in LEVELS_SHOWN)), rows))


def model_section(model_dir):
    if model_dir is None or not files.exists(model_dir, artifacts.METRICS):
        return Section('model', 'Model', note='no --model-dir with an evaluated model given')
    metrics = files.read_json(FileSystems.join(model_dir, artifacts.METRICS))
    body = _table(('split', 'accuracy', 'macro F1', 'weighted F1', 'loss', 'images'),
                  [(split, metrics[f'{split}.accuracy'], metrics[f'{split}.macro_f1'], metrics[f'{split}.weighted_f1'],
                    metrics[f'{split}.loss'], metrics[f'{split}.examples']) for split in ('train', 'val', 'test')])
    if 'test.article_type.accuracy' in metrics:
        body += _whole_label_table(metrics)
    if files.exists(model_dir, artifacts.TRAINING_LOG):
        body += '<h3>Training curves</h3>' + _training_curves(files.read_text(FileSystems.join(model_dir,
                                                                                           artifacts.TRAINING_LOG)))
    if files.exists(model_dir, artifacts.CLASSIFICATION_REPORT_JSON):
        report = files.read_json(FileSystems.join(model_dir, artifacts.CLASSIFICATION_REPORT_JSON))['test']
        rows = [(name, v['precision'], v['recall'], v['f1-score'], int(v['support']))
                for name, v in report.items() if isinstance(v, dict) and name not in ('macro avg', 'weighted avg')]
        body += '<h3>Classification report, test split (click a column to sort)</h3>'
        body += _table(('class', 'precision', 'recall', 'F1', 'support'), rows, sortable=True)
    elif files.exists(model_dir, artifacts.CLASSIFICATION_REPORT_TXT):
        body += '<h3>Classification report</h3><pre>' + html.escape(
            files.read_text(FileSystems.join(model_dir, artifacts.CLASSIFICATION_REPORT_TXT))) + '</pre>'
    if files.exists(model_dir, artifacts.CONFUSION_MATRIX_CSV):
        body += _confusion(files.read_text(FileSystems.join(model_dir, artifacts.CONFUSION_MATRIX_CSV)))
    if files.exists(model_dir, artifacts.MISCLASSIFIED):
        body += '<h3>Misclassified test images</h3>' + _png(model_dir, artifacts.MISCLASSIFIED, 'misclassified')
    return Section('model', 'Model', body)


def _reliability(tables):
    """Accuracy against mean confidence per bin, before and after calibration, beside the diagonal."""
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode='lines', name='perfectly calibrated',
                                line={'dash': 'dot', 'color': 'grey'})])
    for name, table in tables.items():
        bins = [b for b in table if b['count']]
        fig.add_trace(go.Scatter(x=[b['confidence'] for b in bins], y=[b['accuracy'] for b in bins],
                                 mode='lines+markers', name=name, customdata=[b['count'] for b in bins],
                                 hovertemplate='confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata} items'))
    fig.update_layout(title='Reliability diagram, test split (15 bins)', xaxis_title='mean confidence in the bin',
                      yaxis_title='accuracy in the bin', xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    return _figure(fig, height=420)


def _risk_coverage(curve):
    points = [p for p in curve if p['accuracy'] is not None]
    fig = go.Figure([go.Scatter(x=[p['coverage'] for p in points], y=[p['accuracy'] for p in points],
                                mode='lines+markers', text=[f'{p["threshold"]:.2f}' for p in points],
                                hovertemplate='confidence ≥ %{text}<br>share kept %{x:.3f}<br>'
                                              'accuracy of those kept %{y:.4f}<extra></extra>')])
    fig.update_layout(title='Risk-coverage, test split: accepting predictions at or above a calibrated confidence',
                      xaxis_title='share of items kept', yaxis_title='accuracy of the items kept')
    return _figure(fig, height=420)


def calibration_section(model_dir):
    if model_dir is None or not files.exists(model_dir, artifacts.CALIBRATION):
        return Section('calibration', 'Confidence and flags',
                       note='no --model-dir with a calibration.json given (evaluate writes it)')
    details = files.read_json(FileSystems.join(model_dir, artifacts.CALIBRATION))
    metrics = files.read_json(FileSystems.join(model_dir, artifacts.METRICS))
    flag = details['flag']
    body = (f'<p>Served probabilities are divided by a temperature of {details["temperature"]:.3f}, fitted on the '
            'val split (it changes no prediction, only how sure each is).</p>')
    body += _table(('test split', 'NLL', 'ECE (15 bins)'),
                   [('before calibration', metrics['test.nll_uncalibrated'], metrics['test.ece_uncalibrated']),
                    ('after calibration', metrics['test.nll'], metrics['test.ece'])])
    if 'test.article_type.ece' in metrics:
        body += _table(('test split, ECE per level', 'before calibration', 'after calibration'),
                       [(name, metrics[f'test.{key}.ece_uncalibrated'], metrics[f'test.{key}.ece'])
                        for key, name in LEVELS_SHOWN[:3]])
    body += _reliability(details['test_reliability'])
    body += _risk_coverage(details['test_risk_coverage'])
    body += _table(('confidence at least', 'share kept', 'accuracy of those kept'),
                   [(f'{p["threshold"]:.2f}', p['coverage'], p['accuracy'] if p['accuracy'] is not None else '—')
                    for p in details['test_risk_coverage'] if p['threshold'] >= 0.5])
    body += (f'<h3>How a mislabel is flagged</h3><p>The model predicts another class with at least '
             f'<code>--disagree-min-confidence</code>, and gives the given class a calibrated probability of at most '
             f'{flag["max_given_probability"]:.4g}: the largest threshold that reached precision '
             f'{flag["target_precision"]} on the val split with {flag["noise_rate"]:.0%} seeded label noise, '
             f'counting the split\'s own mislabels (estimated at {flag.get("own_noise_rate", 0):.1%} of it) as '
             f'right flags (there: precision against the injected flips alone {flag["precision"] or 0:.3f}, '
             f'recall {flag["recall"]:.3f}).' + _judged_sentence() + '</p>')
    warning = predictions.flag_warning(flag['max_given_probability'], flag)
    if warning:
        body += f'<p class="warning"><b>Warning:</b> {html.escape(warning)}.</p>'
    body += ('<h3>Confusable class pairs (val split)</h3><p>The pairs the model confuses most. On these it keeps '
             'a real share of probability on the given class, so the threshold above leaves them unflagged: '
             'a confusable pair is not a clear error.</p>')
    body += _table(('given', 'predicted', 'items', 'share of the given class', 'mean probability of the given class'),
                   [(p['given'], p['predicted'], p['count'], p['share_of_given'], p['mean_given_class_probability'])
                    for p in details['val_confusable_pairs']], True)
    return Section('calibration', 'Confidence and flags', body)


def _image_bytes(path):
    try:
        return files.read_bytes(path)
    except (IOError, OSError):
        return None


def _items_grid(items, heading, caption):
    """A heading and the images of `items` (each with its `image_path`) captioned, or '' when none can be read."""
    shown = [(data, caption(item)) for item in items for data in [_image_bytes(item['image_path'])] if data]
    return f'<h3>{html.escape(heading)}</h3>' + _grid(shown) if shown else ''


def placements_table(placements):
    """The labels whose type the model agrees with under other parents (rules/summaries.placed_apart), or ''."""
    if not placements.get('count'):
        return ''
    return (f'<h3>Placements, not flags: {placements["count"]} labels whose type the model agrees with, filed under '
            'other parents than the type\'s usual ones</h3>' + _table(
                ('given Class', 'the type\'s usual Class', 'items'),
                [(p['given'], p['predicted'], p['count']) for p in placements['by_pair']], True))


def scores_section(scores_dir):
    if scores_dir is None or not files.exists(scores_dir, artifacts.SUMMARY):
        return Section('scores', 'Scoring', note='no --scores output of the score or nightly job given')
    summary = files.read_json(FileSystems.join(scores_dir, artifacts.SUMMARY))
    unknown = summary['unknown_labelled']
    body = _table(('model', 'scored', 'of them unlabelled', 'quarantined', 'Unknown items labelled',
                   f'filled in (confidence ≥ {unknown.get("accept_min_confidence", "—")})', 'needs review',
                   'disagreements', 'images/s'),
                  [(summary['model_version'], summary['scored'], summary.get('unlabelled', '—'), summary['quarantined'],
                    unknown['count'], unknown.get('filled_in', '—'), unknown.get('needs_review', '—'),
                    summary['disagreements']['count'], summary['images_per_second'])])
    if files.exists(scores_dir, artifacts.UNKNOWN_LABELLED):
        body += '<h3>Unknown items, now labelled</h3>' + _png(scores_dir, artifacts.UNKNOWN_LABELLED,
                                                              'unknown labelled')
    disagreements = summary['disagreements']
    body += (f'<h3>Disagreements (given class known, predicted otherwise with calibrated confidence ≥ '
             f'{disagreements["min_confidence"]}, the given class at most '
             f'{disagreements.get("max_given_class_probability", 1.0):.4g})</h3>')
    if disagreements.get('warning'):
        body += f'<p class="warning"><b>Warning:</b> {html.escape(disagreements["warning"])}.</p>'
    body += _table(('given', 'predicted', 'items'),
                   [(p['given'], p['predicted'], p['count']) for p in disagreements['by_pair']], True)
    if summary.get('model_kind'):
        body += f'<p>Model: {html.escape(summary["model_kind"])}.</p>'
    if summary.get('type_disagreements', {}).get('max_given_type_probability') is not None:
        types = summary['type_disagreements']
        body += (f'<h3>articleType disagreements (Class right, articleType likely wrong: the given type at most '
                 f'{types["max_given_type_probability"]:.4g}): {types["count"]}</h3>')
        body += _table(('given type', 'predicted type', 'items'),
                       [(p['given'], p['predicted'], p['count']) for p in types['by_pair']], True)
        body += '<h3>Flags by kind and evidence</h3>' + _table(
            ('flag', 'evidence', 'items'), [(kind, evidence, n) for kind, by in summary['flags_by_evidence'].items()
                                           for evidence, n in by.items()])
        known = summary.get('neighbours', {})
        if known.get('declared'):
            body += (f'<h3>Neighbours, not flags: {known.get("count", 0)} labels the model would change to a declared '
                     'neighbour type</h3>' + _table(('given type', 'neighbour type', 'items'), [
                         (p['given'], p['predicted'], p['count']) for p in known.get('by_pair', [])], True))
        body += placements_table(summary.get('placements', {}))
    body += _items_grid(disagreements['top'], 'Most suspicious disagreements (lowest probability of the given '
                                              'class first)',
                        lambda r: f'{r["id"]}: {r["given_class"]} → {r["predicted_class"]} {r["confidence"]:.2f} '
                                  f'(given {r.get("given_class_probability") or 0:.4f})')
    return Section('scores', 'Scoring', body)


def _judged_sentence():
    """What the flags were judged on real errors (rules/judged.py), where the shipped quote has it."""
    quoted = judged.flags_line(judged.load())
    return f' On real errors: {quoted}.' if quoted else ''


def audit_section(audit_dir):
    if audit_dir is None or not files.exists(audit_dir, artifacts.SUMMARY):
        return Section('audit', 'Audit', note='no --audit output of the audit job given')
    summary = files.read_json(FileSystems.join(audit_dir, artifacts.SUMMARY))
    by_method = summary['issues_by_method']
    body = _table(('folds', 'model', 'ranking', 'labelled', 'audited', 'out-of-sample accuracy (articleType)',
                   f'issues ({summary["method"]})', 'cleanlab', 'threshold', 'both', 'minutes'),
                  [(summary['folds'], summary['model'], summary['ranking'], summary['labelled'], summary['audited'],
                    summary['out_of_sample_accuracy'], summary['issues'], by_method['cleanlab'],
                    by_method['threshold'], by_method['both'], summary['minutes'])])
    if summary.get('precision_on_real_errors'):
        body += f'<p>{html.escape(judged.summary_line(summary["precision_on_real_errors"]))}.</p>'
    if summary['classes_not_audited']:
        body += ('<p>Not audited where the fold\'s model had no training item of the class: ' + html.escape(', '.join(
            f'{name} (fold {", ".join(map(str, folds))})' for name, folds in summary['classes_not_audited'].items()))
                 + '.</p>')
    rates = sorted(((rate, name) for name, rate in summary['noise_per_type'].items() if rate is not None),
                   reverse=True)[:40]
    fig = go.Figure(go.Bar(x=[name for _, name in rates], y=[rate for rate, _ in rates]))
    fig.update_layout(title="Estimated share of wrong given labels per articleType, the 40 highest (cleanlab's "
                            "confident joint)", yaxis_tickformat='.0%')
    body += _figure(fig, height=420)
    body += _items_grid(summary['top'], 'Top issues (given → suggested articleType by models that never saw the '
                                        'item, and which evidence disagrees; most suspicious first)',
                        lambda t: f'{t["rank"]}. {t["id"]}: {t["given_type"]} → {t["suggested_type"]} '
                                  f'({" / ".join(t["suggested_parents"])}) {t["suggested_probability"]:.2f}, '
                                  f'evidence {t["evidence"]}')
    return Section('audit', 'Audit', body)


def overlap_section(audit_dir, reviews_db):
    """The taxonomy overlap report: per pair, its counts each way, six items a side, and what reviewers decided."""
    if audit_dir is None or not files.exists(audit_dir, artifacts.AUDIT_OVERLAP):
        return Section('overlap', 'Taxonomy overlap', note='no --audit output with an overlap report given')
    summary = files.read_json(FileSystems.join(audit_dir, artifacts.SUMMARY))
    latest = reviews.latest(reviews_db) if reviews_db and FileSystems.exists(reviews_db) else {}
    table = pd.read_parquet(FileSystems.join(audit_dir, artifacts.AUDIT_PARQUET),
                            columns=['id', 'given_type', 'top1_type']) if latest else None
    body = ('<p>Pairs of articleTypes the catalog uses for the same kind of product, estimated from the audit\'s '
            'out-of-sample predictions (cleanlab\'s confident joint): items given one type whose product is the '
            'other, each way. A pair used both ways is a learned neighbour, unless the neighbours file declares it '
            'distinct; a pair the file declares neighbours is one whatever its counts. Neighbours make no issue and '
            'no nightly flag: which type a neighbour pair\'s items carry is a question for the taxonomy\'s owner, '
            'asked once per pair.</p>')
    body += _table(('type A', 'type B', 'given A, looks B', 'given B, looks A', 'share of items', 'neighbours'),
                   [(p['type_a'], p['type_b'], p['a_as_b'], p['b_as_a'], f'{p["joint_share"]:.3%}',
                     'declared' if p['declared'] else 'declared distinct' if p.get('distinct') else
                     'learned' if p['learned'] else 'no')
                    for p in summary.get('overlap', [])], True)
    for p in summary.get('overlap', []):
        decided = overlap.decisions_on_pair(p['type_a'], p['type_b'], table, latest) if latest else {}
        body += f'<h3>{html.escape(p["type_a"])} ⇄ {html.escape(p["type_b"])}</h3><p>Reviewers\' decisions: ' + (
            html.escape(', '.join(f'{k}: {n}' for k, n in decided.items())) or 'none') + '</p>'
        for key, given, looks in (('examples_a_as_b', p['type_a'], p['type_b']),
                                  ('examples_b_as_a', p['type_b'], p['type_a'])):
            body += _items_grid(p[key], f'given {given}, looks {looks}',
                                lambda e, looks=looks: f'{e["id"]}: {looks} {e["probability"]:.2f} — {e["name"]}')
    return Section('overlap', 'Taxonomy overlap', body)


def render(sections, title):
    toc = ''.join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = []
    for s in sections:
        content = s.body + (f'<p class="note">{html.escape(s.note)}</p>' if s.note else '')
        parts.append(f'<section id="{s.key}" data-rendered="{"no" if not s.body else "yes"}">'
                     f'<h2>{html.escape(s.title)}</h2>{content}</section>')
    return (f'<!DOCTYPE html><html data-blocked-requests="0"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<title>{html.escape(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script>'
            f'<script>{plotly.offline.get_plotlyjs()}</script></head><body><h1>{html.escape(title)}</h1>'
            f'<ul>{toc}</ul>{"".join(parts)}</body></html>')


def reviews_section(db_path):
    if db_path is None or not FileSystems.exists(db_path):
        return Section('reviews', 'Review decisions', note='no --reviews database of the review app given')
    latest = reviews.latest(db_path)
    counts = collections.Counter(d.decision for d in latest.values())
    body = _table(('items decided', *decisions.DECISIONS), [(len(latest), *(counts[k] for k in decisions.DECISIONS))])
    body += ('<h3>What reviewers said about the flags</h3><p>Per class pair of flagged items a reviewer settled: '
             'a flag was right when the given label was wrong (accepted or relabelled): the flags\' precision, '
             'measured by people.</p>')
    body += _table(('given', 'predicted', 'decided', 'accepted', 'relabelled', 'kept', 'precision'),
                   [(r['given'], r['predicted'], r['decided'], r['accepted'], r['relabelled'], r['kept'],
                     r['precision']) for r in decisions.flag_precision(latest.values())], True)
    return Section('reviews', 'Review decisions', body)


def build(prepared_dir, validation_dir=None, model_dir=None, scores_dir=None, reviews=None, audit_dir=None):
    if not files.exists(prepared_dir, artifacts.MANIFEST):
        raise UserError(f'{prepared_dir!r} is not a prepare output: no {artifacts.MANIFEST}')
    manifest = files.read_json(FileSystems.join(prepared_dir, artifacts.MANIFEST))
    classes = files.read_text(FileSystems.join(prepared_dir, artifacts.LABELS)).splitlines()
    return [counts_section(manifest), hierarchy_section(manifest), balance_section(manifest, validation_dir),
            relabel_section(manifest, prepared_dir), samples_section(prepared_dir, classes), model_section(model_dir),
            calibration_section(model_dir), scores_section(scores_dir), audit_section(audit_dir),
            overlap_section(audit_dir, reviews),
            reviews_section(reviews)]


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline report',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--prepared', required=True, help='a prepare job output')
    parser.add_argument('--validation', help='a validate job output')
    parser.add_argument('--model-dir', help='a train job output')
    parser.add_argument('--scores', help='a score job output, or a nightly run folder')
    parser.add_argument('--audit', help='an audit job output')
    parser.add_argument('--reviews', help="the review app's decisions database (STATE/reviews.sqlite)")
    parser.add_argument('--output', required=True, help='the HTML file to write')
    args = parser.parse_args(argv)
    files.check_paths(args, folders=['prepared', 'validation', 'model_dir', 'scores', 'audit'],
                      files=['output', 'reviews'])
    sections = build(args.prepared, args.validation, args.model_dir, args.scores, args.reviews, args.audit)
    files.write_text(args.output, render(sections, 'Fashion catalog report'), 'text/html')
    left_out = [s.title for s in sections if s.note and not s.body]
    print(f'wrote {args.output}: {len(sections) - len(left_out)} sections'
          + (f'; left out: {", ".join(left_out)}' if left_out else ''))
    return sections


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['report', *sys.argv[1:]]))
