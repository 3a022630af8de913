"""Validate: TFDV statistics of a catalog's rows, checked against the curated schema and for drift.

    fashion-pipeline validate --catalog DIR --output DIR [--baseline STATS] [--max-quarantine-rate R]

Writes, under OUTPUT (published atomically): stats.pb (DatasetFeatureStatisticsList, the next run's
--baseline), anomalies.pbtxt and anomalies.txt, quarantine/*.jsonl, manifest.json (counts, balance,
breaking problems, warnings). Exits non-zero, after publishing the report, when the catalog breaks the
schema (a type break, a required column missing) or quarantines more than the allowed rate. New category
values and drift past the schema's thresholds are warnings.
"""
import argparse
import collections
import sys

import apache_beam as beam
import tensorflow_data_validation as tfdv
from apache_beam.io.filesystems import FileSystems

from pipelines import catalog, manifest, options as options_lib, publish, stats, taxonomy as taxonomy_lib
from pipelines.balance import balance_figures
from pipelines.errors import UserError, ValidationFailed
from pipelines.labels import AssignClass
from pipelines.read import CountReasons, ReadCatalog, WriteQuarantine

STATS_FILE = 'stats.pb'


def _value_counts(row):
    for column in catalog.LABEL_COLUMNS:
        yield column, row[column]


def _write_counts(_, output, runner, taxonomy_version, rows_read, by_reason, value_counts, class_counts,
                  type_errors):
    columns = collections.defaultdict(dict)
    for (column, value), n in value_counts.items():
        columns[column][value] = n
    manifest.write_json(FileSystems.join(output, publish.MANIFEST), {
        'rows_read': rows_read,
        'rows_passed': rows_read - sum(by_reason.values()),
        'rows_quarantined': sum(by_reason.values()),
        'quarantined_by_reason': dict(sorted(by_reason.items())),
        'type_errors': {f'{column}={value!r}': n for (column, value), n in sorted(type_errors.items())},
        'balance': balance_figures(columns, class_counts),
        'class_counts': dict(sorted(class_counts.items())),
        'taxonomy_version': taxonomy_version,
        'runner': runner,
    })


def build_pipeline(p, catalog_dir, header, output, taxonomy, runner):
    """Adds the validate job to `p`: statistics, quarantine and counts under `output`."""
    read = p | 'read catalog' >> ReadCatalog(catalog_dir, header)
    rows = read['rows']
    _ = (rows
         | 'statistics' >> stats.GenerateStatistics()
         | 'write statistics' >> tfdv.WriteStatisticsToBinaryFile(FileSystems.join(output, STATS_FILE)))
    _ = read['quarantine'] | 'write quarantine' >> WriteQuarantine(output)
    taxonomy_pc = p | 'shipped taxonomy' >> beam.Create([taxonomy.to_dict()])
    classes = ((rows | 'assign class' >> AssignClass(taxonomy_pc)).rows
               | 'class name' >> beam.Map(lambda r: r['class_name'])
               | 'count per class' >> beam.combiners.Count.PerElement())
    values = (rows
              | 'label values' >> beam.FlatMap(_value_counts)
              | 'count label values' >> beam.combiners.Count.PerElement())
    by_reason = read['quarantine'] | 'count per reason' >> CountReasons()
    type_errors = (rows
                   | 'type errors' >> beam.FlatMap(stats.type_errors)
                   | 'count type errors' >> beam.combiners.Count.PerElement())
    side = beam.pvalue
    _ = (p
         | 'once' >> beam.Create([None])
         | 'write counts' >> beam.Map(
             _write_counts, output, runner, taxonomy.version, side.AsSingleton(read['rows_read']),
             side.AsDict(by_reason), side.AsDict(values), side.AsDict(classes), side.AsDict(type_errors)))


def check(counts, statistics, schema, baseline, max_quarantine_rate):
    """Returns (anomalies proto, breaking lines, warning lines) for a run's counts and statistics."""
    examples = statistics.datasets[0].num_examples if statistics.datasets else 0
    if examples != counts['rows_passed']:
        raise RuntimeError(f'TFDV counted {examples} rows, the reader passed {counts["rows_passed"]}')
    anomalies = tfdv.validate_statistics(statistics, schema, previous_statistics=baseline)
    breaking, warnings = stats.classify_anomalies(anomalies)
    breaking += [f'{key}: not an integer ({n} rows)' for key, n in counts['type_errors'].items()]
    rate = counts['rows_quarantined'] / counts['rows_read'] if counts['rows_read'] else 1.0
    if rate > max_quarantine_rate:
        breaking.append(f'quarantine rate {rate:.2%} is above --max-quarantine-rate {max_quarantine_rate:.2%} '
                        f'({counts["quarantined_by_reason"]})')
    return anomalies, breaking, warnings


def _load_baseline(path):
    if path is None:
        return None
    if not FileSystems.exists(path):
        raise UserError(f'--baseline {path!r} does not exist')
    try:
        return tfdv.load_stats_binary(path)
    except Exception as e:  # pylint: disable=broad-except  (TFDV raises several types on a bad file)
        raise UserError(f'--baseline {path!r} is not a TFDV statistics file: {e}') from e


def validate_catalog(catalog_dir, output, baseline_path, max_quarantine_rate, pipeline_options):
    """Runs the job and publishes its report into `output`; returns the report, or raises ValidationFailed
    (after publishing) when the catalog is broken."""
    header = catalog.read_header(catalog_dir)
    baseline = _load_baseline(baseline_path)
    schema = stats.load_schema()
    taxonomy = taxonomy_lib.load()
    with publish.staged(output) as staging:
        with beam.Pipeline(options=pipeline_options) as p:
            build_pipeline(p, catalog_dir, header, staging, taxonomy,
                           options_lib.runner_description(pipeline_options))
        counts = manifest.read_json(FileSystems.join(staging, publish.MANIFEST))
        statistics = tfdv.load_stats_binary(FileSystems.join(staging, STATS_FILE))
        anomalies, breaking, warnings = check(counts, statistics, schema, baseline, max_quarantine_rate)
        tfdv.write_anomalies_text(anomalies, FileSystems.join(staging, 'anomalies.pbtxt'))
        with FileSystems.create(FileSystems.join(staging, 'anomalies.txt')) as f:
            f.write(''.join(f'BREAKING {line}\n' for line in breaking).encode('utf-8'))
            f.write(''.join(f'WARNING {line}\n' for line in warnings).encode('utf-8'))
        report = dict(counts, verdict='broken' if breaking else 'valid', breaking=breaking, warnings=warnings,
                      baseline=baseline_path)
        manifest.write_json(FileSystems.join(staging, publish.MANIFEST), report)
    print(f'validated {catalog_dir}: {counts["rows_read"]} rows read, {counts["rows_passed"]} passed, '
          f'{counts["rows_quarantined"]} quarantined; {len(breaking)} breaking, {len(warnings)} warnings; '
          f'report in {output}')
    for line in warnings:
        print(f'warning: {line}', file=sys.stderr)
    if breaking:
        raise ValidationFailed('catalog is broken: ' + '; '.join(breaking))
    return report


def add_quarantine_rate_flag(parser):
    parser.add_argument('--max-quarantine-rate', type=options_lib.fraction, default=0.05,
                        help='fraction of rows that may be quarantined before the run breaks (default 0.05)')


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline validate', description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--output', required=True, help='folder to publish the validation report into')
    parser.add_argument('--baseline', help="an earlier run's stats.pb, to check for drift")
    add_quarantine_rate_flag(parser)
    args, pipeline_options = options_lib.parse(parser, argv)
    return validate_catalog(args.catalog, args.output, args.baseline, args.max_quarantine_rate, pipeline_options)


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['validate', *sys.argv[1:]]))
