"""Score: label a whole catalog with an exported model, next to the labels it was given.

    fashion-pipeline score --catalog DIR --model EXPORT_DIR --output DIR [--disagree-min-confidence P]
                           [--accept-min-confidence P] [--inference-batch-size N] [beam options]

Writes, under OUTPUT (published atomically, summary.json last):
  predictions-SSSSS-of-NNNNN.csv / .parquet  one row per scored item (predictions.PREDICTION_COLUMNS); in the
                                             CSV a cell starting with = + - @ is escaped for spreadsheets
  quarantine/*.jsonl    rows and images that could not be scored, with their reason
  unknown_labelled.png  a sample of the items whose given labels place them nowhere, with their new class
  summary.json, summary.txt  counts, quarantine by reason, disagreements per class pair, throughput
Label columns never quarantine a row here: the given class is computed under the taxonomy stored with the
model and is Unknown where it cannot be placed or a label column is empty (such a row is counted as
`unlabelled`). Probabilities and confidence are calibrated (the export's temperature).
"""
import argparse
import sys
import time

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.jobs import arguments, launch
from pipelines.rules import catalog, manifest, predictions
from pipelines.storage import exported_model, files, publish, results
from pipelines.transforms.read import ReadCatalog
from pipelines.transforms.scoring import ScoreCatalog
from pipelines.transforms.write import WriteJson, WriteQuarantine, WriteRecords


def build_pipeline(p, catalog_dir, header, output, model, scoring):
    """Adds the score job to `p`: predictions, quarantine and the summary's counts (summary.json, which the
    launcher completes) under `output`."""
    scored = p | 'read catalog' >> ReadCatalog(catalog_dir, header) | 'score catalog' >> ScoreCatalog(model, scoring)
    _ = scored['records'] | 'write predictions' >> WriteRecords(
        FileSystems.join(output, artifacts.PREDICTIONS), predictions.PREDICTION_COLUMNS)
    _ = scored['quarantine'] | 'write quarantine' >> WriteQuarantine(output)
    _ = scored['summary'] | 'write summary' >> WriteJson(FileSystems.join(output, artifacts.SUMMARY))


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline score',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--model', required=True, help='an export (MODEL_DIR/export/<version>), a folder of exports '
                                                       '(the newest), or a models folder (its CURRENT version)')
    parser.add_argument('--output', required=True, help='folder to publish the predictions into')
    arguments.add_scoring_arguments(parser)
    args, pipeline_options = arguments.parse(parser, argv)
    files.check_paths(args, folders=['catalog', 'model', 'output'])
    scoring = arguments.scoring(args)
    header = catalog.read_header(args.catalog)
    model = exported_model.load_exported(args.model)
    runner = arguments.runner_description(pipeline_options)
    with publish.staged(args.output, marker=artifacts.SUMMARY) as staging:
        start = time.monotonic()
        counters = launch.run(pipeline_options, build_pipeline, args.catalog, header, staging, model, scoring)
        summary = dict(files.read_json(FileSystems.join(staging, artifacts.SUMMARY)), counters=counters)
        manifest.check_reconciled(summary['rows_read'], scored=summary['scored'], quarantined=summary['quarantined'])
        summary = results.finish_summary(staging, summary, model, runner, time.monotonic() - start)
    print(f'scored {args.catalog} with model {model.export_id}: {summary["scored"]} scored, '
          f'{summary["quarantined"]} quarantined, {summary["unknown_labelled"]["count"]} Unknown items labelled '
          f'({summary["unknown_labelled"]["needs_review"]} need review), '
          f'{summary["disagreements"]["count"]} disagreements; {summary["images_per_second"]:.1f} images/s; '
          f'output in {args.output}')
    if model.flag_warning:
        print(f'warning: {model.flag_warning}', file=sys.stderr)
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['score', *sys.argv[1:]]))
