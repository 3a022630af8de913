"""Score: label a whole catalog with an exported model, next to the labels it was given.

    fashion-pipeline score --catalog DIR --model EXPORT_DIR --output DIR [--disagree-min-confidence P]
                           [--inference-batch-size N] [beam options]

Writes, under OUTPUT (published atomically, summary.json last):
  predictions-SSSSS-of-NNNNN.csv / .parquet  one row per scored item (scoring.PREDICTION_COLUMNS); in the
                                             CSV a cell starting with = + - @ is escaped for spreadsheets
  quarantine/*.jsonl    rows and images that could not be scored, with their reason
  unknown_labelled.png  a sample of the items whose given labels place them nowhere, with their new class
  summary.json, summary.txt  counts, quarantine by reason, disagreements per class pair, throughput
Label columns never quarantine a row here: the given class is computed under the taxonomy stored with the
model and is Unknown where it cannot be placed.
"""
import argparse
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import catalog, figures, manifest, options as options_lib, publish, scoring
from pipelines.errors import UserError
from pipelines.read import ReadCatalog, WriteQuarantine

SUMMARY = 'summary.json'


def build_pipeline(p, catalog_dir, header, output, model, batch_size, min_confidence):
    """Adds the score job to `p`; the summary (without timings) is written to OUTPUT/summary.json."""
    read = p | 'read catalog' >> ReadCatalog(catalog_dir, header)
    scored = (read['rows']
              | 'given class' >> scoring.GivenClass(model.taxonomy)
              | 'score images' >> scoring.ScoreImages(model, batch_size, min_confidence))
    _ = scored['records'] | 'write predictions' >> scoring.WriteRecords(
        FileSystems.join(output, 'predictions'), scoring.PREDICTION_COLUMNS)
    quarantine = (read['quarantine'], scored['quarantine']) | 'all quarantine' >> beam.Flatten()
    _ = quarantine | 'write quarantine' >> WriteQuarantine(output)
    _ = (scored['records']
         | 'summarize' >> scoring.SummarizeScores(quarantine, min_confidence)
         | 'add rows read' >> beam.Map(lambda s, n: dict(s, rows_read=n), beam.pvalue.AsSingleton(read['rows_read']))
         | 'write summary' >> beam.Map(lambda s: manifest.write_json(FileSystems.join(output, SUMMARY), s)))


def summary_text(summary):
    """summary.json for a reader in a hurry."""
    lines = [f'model {summary["model_version"]} (taxonomy {summary["taxonomy_version"]}), '
             f'runner {summary["runner"]}',
             f'rows read {summary["rows_read"]}: scored {summary["scored"]}, '
             f'quarantined {summary["quarantined"]} {summary["quarantined_by_reason"]}',
             f'{summary["wall_seconds"]:.1f} s, {summary["images_per_second"]:.1f} images/s end to end '
             '(start-up included)',
             f'Unknown items now labelled: {summary["unknown_labelled"]["count"]} '
             f'{summary["unknown_labelled"]["by_class"]}']
    disagreements = summary['disagreements']
    lines.append(f'disagreements (given class known, predicted otherwise with confidence >= '
                 f'{disagreements["min_confidence"]}): {disagreements["count"]}')
    lines += [f'  {pair["given"]} -> {pair["predicted"]}: {pair["count"]}' for pair in disagreements['by_pair']]
    return '\n'.join(lines) + '\n'


def finish_summary(output, summary, model, runner, wall_seconds, text=summary_text):
    """Adds what only the driver knows (versions, runner, timing), draws the sample grid, writes
    summary.json and, as `text` renders it, summary.txt."""
    summary = dict(summary, model_version=model.version, model_path=model.path,
                   taxonomy_version=model.taxonomy_version, runner=runner, wall_seconds=round(wall_seconds, 2),
                   images_per_second=round(summary['scored'] / wall_seconds, 2) if wall_seconds else 0.0)
    figures.image_grid(summary['unknown_labelled']['sample'], FileSystems.join(output, 'unknown_labelled.png'),
                       'Items with an Unknown given class, as the model labels them',
                       lambda item: f'{item["id"]}\n{item["predicted_class"]} {item["confidence"]:.2f}')
    manifest.write_json(FileSystems.join(output, SUMMARY), summary)
    with FileSystems.create(FileSystems.join(output, 'summary.txt')) as f:
        f.write(text(summary).encode('utf-8'))
    return summary


def add_scoring_flags(parser):
    parser.add_argument('--disagree-min-confidence', type=options_lib.fraction,
                        default=scoring.DISAGREE_MIN_CONFIDENCE,
                        help='flag a known given class as a likely mislabel when the model predicts another '
                             'class with at least this confidence (default 0.9)')
    parser.add_argument('--inference-batch-size', type=int, default=scoring.INFERENCE_BATCH_SIZE,
                        help="RunInference's largest batch (default 64)")


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline score', description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--model', required=True, help='an export folder: MODEL_DIR/export/<version>')
    parser.add_argument('--output', required=True, help='folder to publish the predictions into')
    add_scoring_flags(parser)
    args, pipeline_options = options_lib.parse(parser, argv)
    if args.inference_batch_size < 1:
        raise UserError('--inference-batch-size must be at least 1')

    header = catalog.read_header(args.catalog)
    model = scoring.load_exported(args.model)
    runner = options_lib.runner_description(pipeline_options)
    with publish.staged(args.output, marker=SUMMARY) as staging:
        start = time.monotonic()
        with beam.Pipeline(options=pipeline_options) as p:
            build_pipeline(p, args.catalog, header, staging, model, args.inference_batch_size,
                           args.disagree_min_confidence)
        summary = manifest.read_json(FileSystems.join(staging, SUMMARY))
        if summary['rows_read'] != summary['scored'] + summary['quarantined']:
            raise RuntimeError(f'counts do not reconcile: read {summary["rows_read"]}, scored '
                               f'{summary["scored"]}, quarantined {summary["quarantined"]}; nothing was published')
        summary = finish_summary(staging, summary, model, runner, time.monotonic() - start)
    print(f'scored {args.catalog} with model {model.version}: {summary["scored"]} scored, '
          f'{summary["quarantined"]} quarantined, {summary["unknown_labelled"]["count"]} Unknown items labelled, '
          f'{summary["disagreements"]["count"]} disagreements; {summary["images_per_second"]:.1f} images/s; '
          f'output in {args.output}')
    return summary


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['score', *sys.argv[1:]]))
