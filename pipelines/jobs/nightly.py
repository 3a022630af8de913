"""Nightly: validate the catalog, score what is new or changed, publish the labelled catalog as a new version.

    fashion-pipeline nightly --catalog DIR --model EXPORT_DIR --state DIR [--keep N] [--allow-unblessed] [--rehash]
                             [--max-quarantine-rate R] [--max-unlabelled-rate R] [--disagree-min-confidence P]
                             [--accept-min-confidence P] [beam options]

Each run holds STATE/LOCK, refuses an unblessed model, validates styles.csv against the schema and the
previous run's statistics (breaking problems stop the run before anything is published, exit 3), scores
only new or changed items (all of them when the model changed), reads only the images it scores and those
whose file's size or modification time changed (every image with --rehash), merges them with the previous version and
publishes STATE/runs/<run-id>/ through STATE/CURRENT (see pipelines/storage/state.py). Given and predicted labels
stay in separate columns; removed items stay, marked `removed`; a known item whose row or image is now
quarantined keeps its last labels, marked `quarantined`. Reviewers' decisions (STATE/reviews.sqlite, or
--reviews) fill the `reviewed_*` columns of the items they settled, which are then not flagged again until
their row or image changes.
"""
import argparse
import dataclasses
import json
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts, errors
from pipelines.errors import UserError, ValidationFailed
from pipelines.jobs import arguments, launch, stages
from pipelines.rules import alerts, catalog, changes, manifest, predictions, summaries
from pipelines.rules.attribute_reviews import AttributeDecision
from pipelines.rules.decisions import Decision
from pipelines.storage import exported_model, files, prometheus, results, reviews, state
from pipelines.transforms.images import IMAGES_READ
from pipelines.transforms.read import ReadCatalog
from pipelines.transforms.scoring import Incremental, ScoreCatalog
from pipelines.transforms.write import WriteJson, WriteQuarantine, WriteRecords

KEEP = 7


@dataclasses.dataclass(frozen=True)
class Night:
    """One nightly run: what it reads, where it writes, what it scores against."""
    catalog: str
    header: tuple
    state: str
    model: exported_model.ExportedModel
    run_id: str
    previous_run: str  # None on the first night
    removed_unfinished_runs: list
    took_over_lock_of: str  # whose expired or dead lock this run took over, or None
    rehash: bool  # read every image, not only those whose file changed

    @property
    def run_dir(self):
        return state.run_path(self.state, self.run_id)

    @property
    def previous_dir(self):
        return state.run_path(self.state, self.previous_run) if self.previous_run else None


def build_pipeline(p, night, scoring, decisions_path):
    """Adds the nightly scoring job to `p`: the merged catalog, quarantine and the summary's counts under the
    run's folder. `decisions_path` holds reviewers' settling decisions (write_decisions), applied to every
    record: read by the pipeline, not embedded in its graph, which is shipped to a cluster's workers."""
    decisions = (p
                 | 'read decisions' >> beam.io.ReadFromText(decisions_path)
                 | 'parse decisions' >> beam.Map(_decision_of)
                 | 'by id' >> beam.Map(lambda decision: (decision.id, decision)))
    if night.previous_dir:
        previous = (
            p
            | 'read previous catalog' >> beam.io.ReadFromParquet(
                FileSystems.join(night.previous_dir, f'{artifacts.CATALOG}-*.parquet'))
            | 'as catalog records' >> beam.Map(predictions.from_dict, changes.CatalogRecord)
            .with_output_types(changes.CatalogRecord))
        previous_quarantine = (
            p
            | 'previous quarantine files' >> beam.Create([FileSystems.join(
                night.previous_dir, artifacts.QUARANTINE, f'{artifacts.QUARANTINE}-*.jsonl')])
            | 'read previous quarantine' >> beam.io.ReadAllFromText()
            | 'parse previous quarantine' >> beam.Map(lambda line: catalog.quarantined_from_dict(json.loads(line)))
            .with_output_types(catalog.Quarantined))
    else:
        previous = p | 'no previous catalog' >> beam.Create([]).with_output_types(changes.CatalogRecord)
        previous_quarantine = p | 'no previous quarantine' >> beam.Create([])
    read = p | 'read catalog' >> ReadCatalog(night.catalog, night.header)
    scored = (dict(read, previous=previous, previous_quarantine=previous_quarantine, decisions=decisions)
              | 'score new and changed' >> ScoreCatalog(night.model, scoring, Incremental(night.run_id, night.rehash)))
    _ = scored['records'] | 'write catalog' >> WriteRecords(FileSystems.join(night.run_dir, artifacts.CATALOG),
                                                            changes.CATALOG_COLUMNS)
    _ = scored['quarantine'] | 'write quarantine' >> WriteQuarantine(night.run_dir)
    _ = scored['summary'] | 'write summary' >> WriteJson(FileSystems.join(night.run_dir, artifacts.SUMMARY))


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
        ('alerts', 'Alerts raised by the run.', len(summary['alerts'])),
        ('flag_threshold', "The export's threshold on the given class's calibrated probability (0: nothing "
                           'can be flagged).', summary['disagreements']['max_given_class_probability']),
        ('flag_fit_fallback', 'Whether the flag threshold is a fallback or 0 rather than a fit that met its '
                              'target (1: the flags are not what they should be).',
         int(summary['disagreements']['warning'] is not None)),
    ]
    gauges += [('flags', 'Flagged labels in the published catalog scored this run, by kind (disagrees: the Class; '
                'disagrees_type: the articleType) and evidence.', n, {'kind': kind, 'evidence': evidence})
               for kind, by in summary.get('flags_by_evidence', {}).items() for evidence, n in by.items()]
    attributes = summary.get('attributes', {})
    gauges += [('attribute_flags', 'Flagged attribute values (gender, colour, usage) scored this run, by attribute and '
                'evidence.', n, {'attribute': column, 'evidence': evidence})
               for column, by in attributes.get('flags_by_evidence', {}).items() for evidence, n in by.items()]
    gauges += [('attributes_filled', 'Empty attribute values filled in this run, by attribute.', n,
                {'attribute': column}) for column, n in attributes.get('filled', {}).items()]
    gauges.append(('neighbours', 'Labels the model would change to a declared neighbour type (neighbour_type): '
                   'counted apart, never flags.', summary.get('neighbours', {}).get('count', 0)))
    gauges.append(('placements', 'Labels whose type the model agrees with under other parents than the type\'s usual '
                   'ones: counted apart, never flags.', summary.get('placements', {}).get('count', 0)))
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


def _decision_of(line):
    """A line of the decisions file as the type's Decision or an attribute's AttributeDecision."""
    fields = json.loads(line)
    return AttributeDecision(**fields) if 'attribute' in fields else Decision(**fields)


def read_decisions(path, state_dir):
    """The latest settling decision per id, and per id and flagged attribute, from --reviews (which must exist) or
    else STATE/reviews.sqlite (none when STATE is on an object store or has no reviews yet): a list."""
    if path is None:
        path = FileSystems.join(state_dir, artifacts.REVIEWS)
        if not files.is_local(state_dir) or not FileSystems.exists(path):
            return {}
    elif not FileSystems.exists(path):
        raise UserError(f'--reviews {path!r} does not exist')
    return [*(d for _, d in sorted(reviews.latest(path).items()) if d.settles),
            *(d for _, d in sorted(reviews.latest_attributes(path).items()))]


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline nightly',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--model', required=True, help='an export (MODEL_DIR/export/<version>), a folder of exports '
                                                       '(the newest), or a models folder (its CURRENT version)')
    parser.add_argument('--state', required=True, help='the folder the labelled catalog versions live in')
    parser.add_argument('--keep', type=int, default=KEEP, help=f'published runs to keep (default {KEEP})')
    parser.add_argument('--allow-unblessed', action='store_true', help='score with a model that is not blessed')
    parser.add_argument('--rehash', action='store_true',
                        help="read and hash every image, not only those whose file's size or modification time "
                             'changed: catches a file rewritten in place with the same size and time (weekly)')
    parser.add_argument('--break-lock', action='store_true',
                        help="remove STATE/LOCK first, whoever holds it, and say whose it was (for an operator who "
                             "knows its run is gone; an expired lock is taken over without it)")
    parser.add_argument('--max-run-minutes', type=float, default=state.MAX_RUN_AGE_SECONDS / 60,
                        help='a run older than this is hung: it stops renewing its lock, the next run takes the lock '
                             'over and this one publishes nothing (default %(default).0f; keep it above the '
                             "scheduler's time limit for the task)")
    parser.add_argument('--reviews', help='the review decisions database (default: STATE/reviews.sqlite when STATE '
                                          'is a local folder and it exists): a settled item is not flagged again '
                                          'until its row or image changes')
    arguments.add_validation_gate_arguments(parser)
    arguments.add_scoring_arguments(parser)
    arguments.add_alert_arguments(parser)
    args, pipeline_options = arguments.parse(parser, argv)
    files.check_paths(args, folders=['catalog', 'model', 'state'], files=['reviews'])
    if args.keep < 1:
        raise UserError('--keep must be at least 1')
    if args.max_run_minutes <= 0:
        raise UserError('--max-run-minutes must be positive')
    return args, pipeline_options


def begin(args, model, header, run_id, taken_over):
    """The run and its previous version; runs that died before publishing are removed first. A lock taken
    over from a dead or hung run is said on stderr."""
    holder, reason = taken_over
    if holder is not None or reason is not None:
        print(f'took over the lock of {state.describe(holder)}: {reason}', file=sys.stderr)
    previous = state.current_run(args.state)
    unfinished = state.remove_unfinished(args.state, previous)
    return Night(args.catalog, header, args.state, model, run_id, previous, unfinished,
                 state.describe(holder) if reason is not None else None, args.rehash)


def validate(night, args, pipeline_options):
    """Validates the catalog into the run's folder, against the previous run's statistics; a broken catalog
    stops the night before anything is published."""
    baseline = (FileSystems.join(night.previous_dir, artifacts.VALIDATION, artifacts.STATS) if night.previous_run
                else None)
    try:
        return stages.validate_catalog(night.catalog, FileSystems.join(night.run_dir, artifacts.VALIDATION), baseline,
                                       pipeline_options, args.max_quarantine_rate, args.max_unlabelled_rate)
    except ValidationFailed as e:
        raise ValidationFailed(f'{e}; nothing was published (report in {night.run_dir}/validation, kept until '
                               'the next run)') from e


def write_decisions(night, decisions):
    """The run's decisions file (one JSON object per line) in STATE/tmp/<run-id>/, where the workers read it and
    never in the run's folder: it names reviewers, and the run's folder is published."""
    path = FileSystems.join(night.state, artifacts.STATE_TMP, night.run_id, artifacts.DECISIONS)
    files.write_text(path, ''.join(json.dumps(vars(d), sort_keys=True) + '\n' for d in decisions))
    return path


def score(night, pipeline_options, scoring, decisions):
    """Runs the scoring pipeline into the run's folder; returns its counters. A failed run leaves no folder.
    The decisions file lives only while the pipeline runs."""
    try:
        return launch.run(pipeline_options, build_pipeline, night, scoring, write_decisions(night, decisions))
    except BaseException:
        state.delete_run(night.state, night.run_id)
        raise
    finally:
        state.delete_tmp(night.state)


def summarize(night, counters, validation_report, limits):
    """The pipeline's summary, read back from its sink, with the run's context, figures and alerts; checked
    to reconcile (rows read = unchanged + scored + quarantined) before anything is published."""
    counters = {IMAGES_READ: 0, **counters}  # a counter never incremented is not reported
    summary = dict(files.read_json(FileSystems.join(night.run_dir, artifacts.SUMMARY)), counters=counters,
                   run_id=night.run_id, previous_run=night.previous_run, catalog=night.catalog,
                   drift_warnings=validation_report['warnings'],
                   took_over_stale_lock=night.took_over_lock_of is not None, took_over_lock_of=night.took_over_lock_of,
                   removed_unfinished_runs=night.removed_unfinished_runs, rehash=night.rehash)
    figures = alerts.figures(summary, validation_report)
    before = (files.read_json(FileSystems.join(night.previous_dir, artifacts.SUMMARY)).get('figures')
              if night.previous_run else None)
    summary.update(figures=figures, alerts=alerts.check(figures, before, limits) + alerts.standing(night.model))
    try:
        manifest.check_reconciled(summary['rows_read'], unchanged=summary['changes'].get(changes.UNCHANGED, 0),
                                  scored=summary['scored'], quarantined=summary['quarantined'])
    except RuntimeError:
        state.delete_run(night.state, night.run_id)
        raise
    return summary


def publish(night, summary, keep, runner, wall_seconds):
    """Writes the run's summary files, points CURRENT at the run, prunes old runs and writes metrics.prom;
    returns (the summary, the pruned run ids)."""
    summary = results.finish_summary(night.run_dir, summary, night.model, runner, wall_seconds, summary_text)
    state.set_current_while_held(night.state, night.run_id)
    pruned = state.prune(night.state, night.run_id, keep)
    write_metrics(night.state, summary)
    return summary, pruned


def write_attempt(state_dir, exit_code):
    """STATE/nightly_attempt.prom: this attempt's time and exit code, and when a run last published, so a
    failing schedule shows in Prometheus as failing, not only as a stale timestamp. Its own file: a failed
    attempt never touches what the run holding the lock writes (metrics.prom, CURRENT, runs/)."""
    path = FileSystems.join(state_dir, artifacts.NIGHTLY_ATTEMPT_PROM)
    now = time.time()
    last_success = now if exit_code == 0 else prometheus.read_gauge(
        path, 'fashion_nightly_last_success_timestamp_seconds')
    gauges = [('attempt_timestamp_seconds', 'When the last nightly attempt ended.', now),
              ('attempt_exit_code', 'Its exit code: 0 published, 2 bad input, 3 validation broke, 75 the lock was '
                                    'held (README "Exit codes").', exit_code)]
    if last_success is not None:
        gauges.append(('last_success_timestamp_seconds', 'When a nightly run last published.', last_success))
    prometheus.write(path, 'fashion_nightly', gauges)


def run(argv=None):
    args, pipeline_options = parse_args(argv)  # a bad --state ends here: there is nowhere to write to
    try:
        summary = _run(args, pipeline_options)
    except Exception as e:
        write_attempt(args.state, getattr(e, 'exit_code', errors.EXIT_UNEXPECTED))
        raise
    write_attempt(args.state, 0)
    return summary


def _run(args, pipeline_options):
    if args.break_lock:
        holder = state.break_lock(args.state)
        print(f'broke the lock of {state.describe(holder)}' if holder is not None else
              f'no lock to break in {args.state}', file=sys.stderr)
    model = exported_model.load_exported(args.model)
    if not args.allow_unblessed:
        _check_blessed(model)
    header = catalog.read_header(args.catalog)
    scoring = arguments.scoring(args)
    start, run_id = time.monotonic(), state.new_run_id()
    with state.lock(args.state, run_id, max_age=args.max_run_minutes * 60) as taken_over:
        night = begin(args, model, header, run_id, taken_over)
        validation_report = validate(night, args, pipeline_options)
        validated = time.monotonic()
        counters = score(night, pipeline_options, scoring, read_decisions(args.reviews, args.state))
        summary = summarize(night, counters, validation_report, arguments.alert_limits(args))
        summary['stage_seconds'] = {'validate': round(validated - start, 1),
                                    'score': round(time.monotonic() - validated, 1)}
        summary, pruned = publish(night, summary, args.keep, arguments.runner_description(pipeline_options),
                                  time.monotonic() - start)
    counted = summary['changes']
    print(f'nightly run {night.run_id}: {counted.get(changes.NEW, 0)} new, {counted.get(changes.CHANGED, 0)} changed, '
          f'{counted.get(changes.RESCORED, 0)} rescored, {counted.get("known_" + changes.REMOVED, 0)} removed, '
          f'{summary["scored"]} scored, {summary["quarantined"]} quarantined, '
          f'{summary["counters"][IMAGES_READ]} images read{" (--rehash)" if night.rehash else ""}; '
          f'catalog {summary["catalog_rows"]}; '
          f'published {night.run_dir} (pruned {len(pruned)} old runs)')
    for alert in summary['alerts']:
        print(f'alert: {alert["message"]}', file=sys.stderr)
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['nightly', *sys.argv[1:]]))
