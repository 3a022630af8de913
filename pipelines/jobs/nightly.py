"""Nightly: validate the catalog, score what is new or changed, publish the labelled catalog as a new version.

    fashion-pipeline nightly --catalog DIR --model EXPORT_DIR --state DIR [--keep N] [--allow-unblessed]
                             [--max-quarantine-rate R] [--max-unlabelled-rate R] [--disagree-min-confidence P]
                             [--accept-min-confidence P] [beam options]

Each run holds STATE/LOCK, refuses an unblessed model, validates styles.csv against the schema and the
previous run's statistics (breaking problems stop the run before anything is published, exit 3), scores
only new or changed items (all of them when the model changed), merges them with the previous version and
publishes STATE/runs/<run-id>/ through STATE/CURRENT (see pipelines/storage/state.py). Given and predicted labels
stay in separate columns; removed items stay, marked `removed`; a known item whose row or image is now
quarantined keeps its last labels, marked `quarantined`. Reviewers' decisions (STATE/reviews.sqlite, or
--reviews) fill the `reviewed_*` columns of the items they settled, which are then not flagged again until
their row or image changes.
"""
import argparse
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError, ValidationFailed
from pipelines.jobs import flags, stages
from pipelines.rules import alerts, catalog, changes, manifest, summaries
from pipelines.storage import exported_model, files, prometheus, reviews, state
from pipelines.transforms.classes import AssignClass
from pipelines.transforms.count import SummarizeScores
from pipelines.transforms.diff import DiffWithPrevious
from pipelines.transforms.images import CheckImages
from pipelines.transforms.inference import ScoreImages
from pipelines.transforms.read import ReadCatalog
from pipelines.transforms.reviews import ApplyReviews
from pipelines.transforms.write import WriteQuarantine, WriteRecords

KEEP = 7


def _summary(base, rows_read, counted_changes, statuses):
    return dict(base, rows_read=rows_read, changes=dict(sorted(counted_changes.items())),
                catalog_rows=dict(sorted(statuses.items())))


def build_pipeline(p, catalog_dir, header, run_dir, model, previous_dir, run_id, batch_size, thresholds, latest=None):
    """Adds the nightly scoring job to `p`: the merged catalog, quarantine and a partial summary.json.
    `latest` ({id: Decision}) holds reviewers' decisions, applied to every record published."""
    latest = latest or {}
    read = p | 'read catalog' >> ReadCatalog(catalog_dir, header)
    taxonomy = p | "model's taxonomy" >> beam.Create([model.taxonomy])
    hashed = ((read['rows'] | 'given class' >> AssignClass(taxonomy, as_given=True)).rows
              | 'hash images' >> CheckImages())
    if previous_dir:
        previous = p | 'read previous catalog' >> beam.io.ReadFromParquet(
            FileSystems.join(previous_dir, f'{artifacts.CATALOG}-*.parquet'))
    else:
        previous = p | 'no previous catalog' >> beam.Create([])
    quarantine = (read['quarantine'], hashed.quarantine) | 'reader quarantine' >> beam.Flatten()
    diff = hashed.rows | 'diff with previous' >> DiffWithPrevious(previous, quarantine, model.version, run_id)
    scored = diff.to_score | 'score new and changed' >> ScoreImages(model, batch_size, thresholds)
    records = scored['records'] | 'reviews of scored items' >> ApplyReviews(latest, model.taxonomy)
    fresh = records | 'to catalog record' >> beam.Map(changes.catalog_record, run_id)
    carried = diff.carried | 'reviews of carried items' >> ApplyReviews(latest, model.taxonomy)
    merged = (carried, fresh) | 'merge' >> beam.Flatten()
    _ = merged | 'write catalog' >> WriteRecords(FileSystems.join(run_dir, artifacts.CATALOG),
                                                 changes.CATALOG_COLUMNS)
    all_quarantine = (quarantine, scored['quarantine']) | 'all quarantine' >> beam.Flatten()
    _ = all_quarantine | 'write quarantine' >> WriteQuarantine(run_dir)
    counted_changes = diff.changes | 'count changes' >> beam.combiners.Count.PerElement()
    statuses = (merged
                | 'status' >> beam.Map(lambda r: r['status'])
                | 'count per status' >> beam.combiners.Count.PerElement())
    side = beam.pvalue
    _ = (records
         | 'summarize scores' >> SummarizeScores(all_quarantine, model, thresholds)
         | 'add changes' >> beam.Map(_summary, side.AsSingleton(read['rows_read']), side.AsDict(counted_changes),
                                     side.AsDict(statuses))
         | 'write summary' >> beam.Map(lambda s: files.write_json(FileSystems.join(run_dir, artifacts.SUMMARY), s)))


def summary_text(summary):
    counted = summary['changes']
    lines = [f'run {summary["run_id"]} (previous {summary["previous_run"]}), catalog {summary["catalog"]}',
             f'items new {counted.get(changes.NEW, 0)}, changed {counted.get(changes.CHANGED, 0)}, rescored for a '
             f'new model {counted.get(changes.RESCORED, 0)}, unchanged {counted.get(changes.UNCHANGED, 0)}, removed '
             f'{counted.get("known_" + changes.REMOVED, 0)}, known items now quarantined '
             f'{counted.get("known_" + changes.QUARANTINED, 0)}',
             f'published catalog rows by status: {summary["catalog_rows"]}']
    lines += [f'drift warning: {line}' for line in summary['drift_warnings']]
    lines += [f'ALERT: {alert["message"]}' for alert in summary['alerts']]
    return '\n'.join(lines) + '\n' + summaries.summary_text(summary)


def write_metrics(state_dir, summary):
    """STATE/metrics.prom: the published run's figures and alerts as Prometheus gauges."""
    figures = summary['figures']
    gauges = [
        ('last_success_timestamp_seconds', 'When the last nightly run published.', time.time()),
        ('rows_read', 'Rows of styles.csv read.', summary['rows_read']),
        ('scored', 'Items scored this run (new, changed, or all under a new model).', summary['scored']),
        ('quarantined', 'Rows quarantined.', summary['quarantined']),
        ('wall_seconds', 'Wall time of the run.', summary['wall_seconds']),
        ('alerts', 'Alerts raised against the previous run.', len(summary['alerts'])),
    ]
    gauges += [(name, f'Figure {name} of the run (rules/alerts.py).', value)
               for name, value in figures.items() if value is not None]
    gauges += [('alert', 'An alert raised by the run, by figure.', 1, {'figure': alert['figure']})
               for alert in summary['alerts']]
    prometheus.write(FileSystems.join(state_dir, artifacts.METRICS_PROM), 'fashion_nightly', gauges)


def _check_blessed(model):
    blessing = exported_model.read_blessing(model)
    if blessing is None:
        raise UserError(f'model {model.path} has no blessing.json in {model.model_dir} '
                        '(pass --allow-unblessed to score with it anyway)')
    if not blessing.get('blessed'):
        reasons = '; '.join(blessing.get('reasons') or []) or 'blessed: false'
        raise UserError(f'model {model.path} is not blessed ({reasons}); '
                        'pass --allow-unblessed to score with it anyway')


def read_decisions(path, state_dir):
    """The latest settling decision per id, from --reviews (which must exist) or else STATE/reviews.sqlite
    (none when STATE is on an object store or has no reviews yet)."""
    if path is None:
        path = FileSystems.join(state_dir, artifacts.REVIEWS)
        if not files.is_local(state_dir) or not FileSystems.exists(path):
            return {}
    elif not FileSystems.exists(path):
        raise UserError(f'--reviews {path!r} does not exist')
    return {i: d for i, d in reviews.latest(path).items() if d.settles}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline nightly', description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--model', required=True, help='an export (MODEL_DIR/export/<version>), a folder of exports '
                                                       '(the newest), or a models folder (its CURRENT version)')
    parser.add_argument('--state', required=True, help='the folder the labelled catalog versions live in')
    parser.add_argument('--keep', type=int, default=KEEP, help=f'published runs to keep (default {KEEP})')
    parser.add_argument('--allow-unblessed', action='store_true', help='score with a model that is not blessed')
    parser.add_argument('--reviews', help='the review decisions database (default: STATE/reviews.sqlite when STATE '
                                          'is a local folder and it exists): a settled item is not flagged again '
                                          'until its row or image changes')
    flags.add_validation_gate_flags(parser)
    flags.add_scoring_flags(parser)
    flags.add_alert_flags(parser)
    args, pipeline_options = flags.parse(parser, argv)
    files.check_paths(args, folders=['catalog', 'model', 'state'], files=['reviews'])
    if args.keep < 1:
        raise UserError('--keep must be at least 1')
    return args, pipeline_options


def run(argv=None):
    args, pipeline_options = parse_args(argv)
    model = exported_model.load_exported(args.model)
    if not args.allow_unblessed:
        _check_blessed(model)
    header = catalog.read_header(args.catalog)
    start = time.monotonic()
    with state.lock(args.state) as took_over_stale_lock:
        previous = state.current_run(args.state)
        unfinished = state.remove_unfinished(args.state, previous)
        run_id = state.new_run_id()
        run_dir = state.run_path(args.state, run_id)
        previous_dir = state.run_path(args.state, previous) if previous else None
        baseline = FileSystems.join(previous_dir, artifacts.VALIDATION, artifacts.STATS) if previous else None
        try:
            report = stages.validate_catalog(args.catalog, FileSystems.join(run_dir, artifacts.VALIDATION), baseline,
                                             pipeline_options, args.max_quarantine_rate,
                                             args.max_unlabelled_rate)
        except ValidationFailed as e:
            raise ValidationFailed(f'{e}; nothing was published (report in {run_dir}/validation, kept until '
                                   'the next run)') from e
        latest = read_decisions(args.reviews, args.state)
        try:
            with beam.Pipeline(options=pipeline_options) as p:
                build_pipeline(p, args.catalog, header, run_dir, model, previous_dir, run_id,
                               args.inference_batch_size, flags.thresholds(args), latest)
        except BaseException:
            state.delete_run(args.state, run_id)
            raise
        summary = files.read_json(FileSystems.join(run_dir, artifacts.SUMMARY))
        summary = dict(summary, run_id=run_id, previous_run=previous, catalog=args.catalog,
                       drift_warnings=report['warnings'], took_over_stale_lock=took_over_stale_lock,
                       removed_unfinished_runs=unfinished)
        figures = alerts.figures(summary, report)
        before = files.read_json(FileSystems.join(previous_dir, artifacts.SUMMARY)).get('figures') if previous else None
        summary.update(figures=figures, alerts=alerts.check(figures, before, flags.alert_limits(args)))
        try:
            manifest.check_reconciled(summary['rows_read'], unchanged=summary['changes'].get(changes.UNCHANGED, 0),
                                      scored=summary['scored'], quarantined=summary['quarantined'])
        except RuntimeError:
            state.delete_run(args.state, run_id)
            raise
        summary = summaries.finish_summary(run_dir, summary, model, flags.runner_description(pipeline_options),
                                           time.monotonic() - start, summary_text)
        state.set_current(args.state, run_id)
        pruned = state.prune(args.state, run_id, args.keep)
        write_metrics(args.state, summary)
    counted = summary['changes']
    print(f'nightly run {run_id}: {counted.get(changes.NEW, 0)} new, {counted.get(changes.CHANGED, 0)} changed, '
          f'{counted.get(changes.RESCORED, 0)} rescored, {counted.get("known_" + changes.REMOVED, 0)} removed, '
          f'{summary["scored"]} scored, {summary["quarantined"]} quarantined; catalog {summary["catalog_rows"]}; '
          f'published {run_dir} (pruned {len(pruned)} old runs)')
    for alert in summary['alerts']:
        print(f'alert: {alert["message"]}', file=sys.stderr)
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['nightly', *sys.argv[1:]]))
