"""Nightly: validate the catalog, score what is new or changed, publish the labelled catalog as a new version.

    fashion-pipeline nightly --catalog DIR --model EXPORT_DIR --state DIR [--keep N] [--allow-unblessed]
                             [--max-quarantine-rate R] [--disagree-min-confidence P] [beam options]

Each run holds STATE/LOCK, refuses an unblessed model, validates styles.csv against the schema and the
previous run's statistics (breaking problems stop the run before anything is published, exit 3), scores
only new or changed items (all of them when the model changed), merges them with the previous version and
publishes STATE/runs/<run-id>/ through STATE/CURRENT (see pipelines/state.py). Given and predicted labels
stay in separate columns; removed items stay, marked `removed`; a known item whose row or image is now
quarantined keeps its last labels, marked `quarantined`.
"""
import argparse
import hashlib
import json
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import catalog, manifest, options as options_lib, score, scoring, state, validate
from pipelines.errors import UserError, ValidationFailed
from pipelines.read import ReadCatalog, WriteQuarantine

CATALOG_COLUMNS = (*scoring.PREDICTION_COLUMNS, 'fingerprint', 'status', 'scored_in_run', 'updated_in_run')
ACTIVE, REMOVED, QUARANTINED = 'active', 'removed', 'quarantined'
# What happened to an id in a run; `summary.json` counts each.
NEW, CHANGED, RESCORED, UNCHANGED = 'new', 'changed', 'rescored', 'unchanged'
KEEP = 7


def fingerprint(row):
    """What, when it changes, makes an item worth scoring again: its labels, its name, its image bytes."""
    fields = [row[name] for name in (*catalog.LABEL_COLUMNS, 'productDisplayName', 'content_hash')]
    return hashlib.sha256(json.dumps(fields).encode('utf-8')).hexdigest()


def _change(row, previous, model_version):
    if previous is None or previous['status'] == REMOVED:
        return NEW
    if previous['fingerprint'] != fingerprint(row):
        return CHANGED
    if previous['model_version'] != model_version:
        return RESCORED
    return UNCHANGED


def _with_status(previous, status, run_id):
    return previous if previous['status'] == status else dict(previous, status=status, updated_in_run=run_id)


class _Diff(beam.DoFn):
    """One id's current row, previous record and quarantine records -> a carried record or a row to score."""

    def __init__(self, model_version, run_id):
        self._model_version, self._run_id = model_version, run_id

    def process(self, keyed):
        _, groups = keyed
        current, previous = list(groups['current']), list(groups['previous'])
        previous = previous[0] if previous else None
        if current:
            change = _change(current[0], previous, self._model_version)
            if change == UNCHANGED:
                yield _with_status(previous, ACTIVE, self._run_id)
            else:
                yield beam.pvalue.TaggedOutput('to_score', current[0])
        elif previous is None:
            return
        elif list(groups['quarantined']):
            change = QUARANTINED if previous['status'] != QUARANTINED else UNCHANGED
            yield _with_status(previous, QUARANTINED, self._run_id)
        else:
            change = REMOVED if previous['status'] != REMOVED else UNCHANGED
            yield _with_status(previous, REMOVED, self._run_id)
        yield beam.pvalue.TaggedOutput('changes', change if current else f'known_{change}')


def _catalog_record(record, run_id):
    row = {name: record[name] for name in scoring.PREDICTION_COLUMNS}
    return dict(row, fingerprint=fingerprint(record), status=ACTIVE, scored_in_run=run_id, updated_in_run=run_id)


def _keyed(record):
    return record['id'], record


def _summary(base, rows_read, changes, statuses):
    return dict(base, rows_read=rows_read, changes=dict(sorted(changes.items())),
                catalog_rows=dict(sorted(statuses.items())))


def build_pipeline(p, catalog_dir, header, run_dir, model, previous_dir, run_id, batch_size, min_confidence):
    """Adds the nightly scoring job to `p`: the merged catalog, quarantine and a partial summary.json."""
    read = p | 'read catalog' >> ReadCatalog(catalog_dir, header)
    hashed = (read['rows']
              | 'given class' >> scoring.GivenClass(model.taxonomy)
              | 'hash images' >> scoring.HashImages())
    if previous_dir:
        previous = p | 'read previous catalog' >> beam.io.ReadFromParquet(
            FileSystems.join(previous_dir, 'catalog-*.parquet'))
    else:
        previous = p | 'no previous catalog' >> beam.Create([])
    quarantine = (read['quarantine'], hashed.quarantine) | 'reader quarantine' >> beam.Flatten()
    diff = (
        {'current': hashed.rows | 'key current' >> beam.Map(_keyed),
         'previous': previous | 'key previous' >> beam.Map(_keyed),
         'quarantined': (quarantine | 'quarantined known ids' >> beam.Filter(lambda r: catalog.is_valid_id(r['id']))
                         | 'key quarantined' >> beam.Map(_keyed))}
        | 'join with previous' >> beam.CoGroupByKey()
        | 'diff' >> beam.ParDo(_Diff(model.version, run_id)).with_outputs('to_score', 'changes', main='carried'))
    scored = diff.to_score | 'score new and changed' >> scoring.ScoreImages(model, batch_size, min_confidence)
    fresh = scored['records'] | 'to catalog record' >> beam.Map(_catalog_record, run_id)
    merged = (diff.carried, fresh) | 'merge' >> beam.Flatten()
    _ = merged | 'write catalog' >> scoring.WriteRecords(FileSystems.join(run_dir, 'catalog'), CATALOG_COLUMNS)
    all_quarantine = (quarantine, scored['quarantine']) | 'all quarantine' >> beam.Flatten()
    _ = all_quarantine | 'write quarantine' >> WriteQuarantine(run_dir)
    changes = diff.changes | 'count changes' >> beam.combiners.Count.PerElement()
    statuses = (merged
                | 'status' >> beam.Map(lambda r: r['status'])
                | 'count per status' >> beam.combiners.Count.PerElement())
    side = beam.pvalue
    _ = (scored['records']
         | 'summarize scores' >> scoring.SummarizeScores(all_quarantine, min_confidence)
         | 'add changes' >> beam.Map(_summary, side.AsSingleton(read['rows_read']), side.AsDict(changes),
                                     side.AsDict(statuses))
         | 'write summary' >> beam.Map(lambda s: manifest.write_json(FileSystems.join(run_dir, score.SUMMARY), s)))


def summary_text(summary):
    changes = summary['changes']
    lines = [f'run {summary["run_id"]} (previous {summary["previous_run"]}), catalog {summary["catalog"]}',
             f'items new {changes.get(NEW, 0)}, changed {changes.get(CHANGED, 0)}, rescored for a new model '
             f'{changes.get(RESCORED, 0)}, unchanged {changes.get(UNCHANGED, 0)}, removed '
             f'{changes.get("known_" + REMOVED, 0)}, known items now quarantined '
             f'{changes.get("known_" + QUARANTINED, 0)}',
             f'published catalog rows by status: {summary["catalog_rows"]}']
    lines += [f'drift warning: {line}' for line in summary['drift_warnings']]
    return '\n'.join(lines) + '\n' + score.summary_text(summary)


def _check_blessed(model):
    blessing = scoring.read_blessing(model)
    if blessing is None:
        raise UserError(f'model {model.path} has no blessing.json in {model.model_dir} '
                        '(pass --allow-unblessed to score with it anyway)')
    if not blessing.get('blessed'):
        reasons = '; '.join(blessing.get('reasons') or []) or 'blessed: false'
        raise UserError(f'model {model.path} is not blessed ({reasons}); '
                        'pass --allow-unblessed to score with it anyway')


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline nightly', description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--model', required=True, help='an export folder: MODEL_DIR/export/<version>')
    parser.add_argument('--state', required=True, help='the folder the labelled catalog versions live in')
    parser.add_argument('--keep', type=int, default=KEEP, help=f'published runs to keep (default {KEEP})')
    parser.add_argument('--allow-unblessed', action='store_true', help='score with a model that is not blessed')
    validate.add_quarantine_rate_flag(parser)
    score.add_scoring_flags(parser)
    args, pipeline_options = options_lib.parse(parser, argv)
    if args.keep < 1:
        raise UserError('--keep must be at least 1')
    return args, pipeline_options


def run(argv=None):
    args, pipeline_options = parse_args(argv)
    model = scoring.load_exported(args.model)
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
        baseline = FileSystems.join(previous_dir, 'validation', validate.STATS_FILE) if previous else None
        try:
            report = validate.validate_catalog(args.catalog, FileSystems.join(run_dir, 'validation'), baseline,
                                               args.max_quarantine_rate, pipeline_options)
        except ValidationFailed as e:
            raise ValidationFailed(f'{e}; nothing was published (report in {run_dir}/validation, kept until '
                                   'the next run)') from e
        try:
            with beam.Pipeline(options=pipeline_options) as p:
                build_pipeline(p, args.catalog, header, run_dir, model, previous_dir, run_id,
                               args.inference_batch_size, args.disagree_min_confidence)
        except BaseException:
            state.delete_run(args.state, run_id)
            raise
        summary = manifest.read_json(FileSystems.join(run_dir, score.SUMMARY))
        summary = dict(summary, run_id=run_id, previous_run=previous, catalog=args.catalog,
                       drift_warnings=report['warnings'], took_over_stale_lock=took_over_stale_lock,
                       removed_unfinished_runs=unfinished)
        carried = summary['changes'].get(UNCHANGED, 0)
        if summary['rows_read'] != carried + summary['scored'] + summary['quarantined']:
            state.delete_run(args.state, run_id)
            raise RuntimeError(f'counts do not reconcile: read {summary["rows_read"]}, unchanged {carried}, '
                               f'scored {summary["scored"]}, quarantined {summary["quarantined"]}; '
                               'nothing was published')
        summary = score.finish_summary(run_dir, summary, model, options_lib.runner_description(pipeline_options),
                                       time.monotonic() - start, summary_text)
        state.set_current(args.state, run_id)
        pruned = state.prune(args.state, run_id, args.keep)
    changes = summary['changes']
    print(f'nightly run {run_id}: {changes.get(NEW, 0)} new, {changes.get(CHANGED, 0)} changed, '
          f'{changes.get(RESCORED, 0)} rescored, {changes.get("known_" + REMOVED, 0)} removed, '
          f'{summary["scored"]} scored, {summary["quarantined"]} quarantined; catalog {summary["catalog_rows"]}; '
          f'published {run_dir} (pruned {len(pruned)} old runs)')
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['nightly', *sys.argv[1:]]))
