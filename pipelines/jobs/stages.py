"""The one stage two jobs run whole: validating a catalog into a published report (validate, nightly)."""
import sys

import apache_beam as beam
import tensorflow_data_validation as tfdv
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import ValidationFailed
from pipelines.jobs import arguments, launch
from pipelines.rules import catalog, schema, taxonomy as taxonomy_lib, validation
from pipelines.storage import files, publish, validation_report
from pipelines.transforms.classes import AssignClass
from pipelines.transforms.count import CountReasons
from pipelines.transforms.read import ReadCatalog
from pipelines.transforms.statistics import GenerateStatistics
from pipelines.transforms.write import WriteJson, WriteQuarantine


def _label_values(row):
    for column in catalog.LABEL_COLUMNS:
        yield column, getattr(row, column)


def build_validation(p, catalog_dir, header, output, taxonomy, runner):
    """Adds the validation pipeline to `p`: statistics, quarantine and counts under `output`."""
    read = p | 'read catalog' >> ReadCatalog(catalog_dir, header)
    rows = read['rows']
    _ = (rows
         | 'statistics' >> GenerateStatistics()
         | 'write statistics' >> tfdv.WriteStatisticsToBinaryFile(FileSystems.join(output, artifacts.STATS)))
    _ = read['quarantine'] | 'write quarantine' >> WriteQuarantine(output)
    taxonomy_pc = p | 'shipped taxonomy' >> beam.Create([taxonomy.to_dict()])
    classes = ((rows | 'assign class' >> AssignClass(taxonomy_pc)).rows
               | 'class name' >> beam.Map(lambda r: r.class_name)
               | 'count per class' >> beam.combiners.Count.PerElement())
    values = (rows
              | 'label values' >> beam.FlatMap(_label_values)
              | 'count label values' >> beam.combiners.Count.PerElement())
    by_reason = read['quarantine'] | 'count per reason' >> CountReasons()
    unlabelled = (rows
                  | 'empty label columns' >> beam.Map(lambda row: tuple(catalog.empty_labels(row.labels)))
                  | 'unlabelled only' >> beam.Filter(bool)
                  | 'count per empty column' >> beam.combiners.Count.PerElement())
    type_errors = (rows
                   | 'type errors' >> beam.FlatMap(schema.type_errors)
                   | 'count type errors' >> beam.combiners.Count.PerElement())
    side = beam.pvalue
    _ = (p
         | 'once' >> beam.Create([None])
         | 'count' >> beam.Map(
             lambda _, *args: validation.counts(*args), runner, taxonomy.rules_hash,
             side.AsSingleton(read['rows_read']), side.AsDict(by_reason), side.AsList(unlabelled), side.AsDict(values),
             side.AsDict(classes), side.AsDict(type_errors), side.AsList(read['repaired']))
         | 'write counts' >> WriteJson(FileSystems.join(output, artifacts.MANIFEST)))


def validate_catalog(catalog_dir, output, baseline_path, pipeline_options, max_quarantine_rate,
                     max_unlabelled_rate=None):
    """Runs the validation and publishes its report into `output`; returns the report, or raises
    ValidationFailed (after publishing) when the catalog is broken."""
    header = catalog.read_header(catalog_dir)
    baseline = validation_report.load_baseline(baseline_path)
    curated = schema.load_schema()
    taxonomy = taxonomy_lib.load()
    with publish.staged(output) as staging:
        counters = launch.run(pipeline_options, build_validation, catalog_dir, header, staging, taxonomy,
                              arguments.runner_description(pipeline_options))
        counts = dict(files.read_json(FileSystems.join(staging, artifacts.MANIFEST)), counters=counters)
        statistics = tfdv.load_stats_binary(FileSystems.join(staging, artifacts.STATS))
        anomalies, breaking, warnings = validation.check(counts, statistics, curated, baseline, max_quarantine_rate,
                                                        max_unlabelled_rate)
        report = validation_report.write(staging, counts, anomalies, breaking, warnings, baseline_path)
    print(f'validated {catalog_dir}: {counts["rows_read"]} rows read, {counts["rows_passed"]} passed '
          f'({counts["rows_unlabelled"]} of them unlabelled, {counts["repaired"]["count"]} repaired), '
          f'{counts["rows_quarantined"]} quarantined; '
          f'{len(breaking)} breaking, {len(warnings)} warnings; '
          f'report in {output}')
    for line in warnings:
        print(f'warning: {line}', file=sys.stderr)
    if breaking:
        raise ValidationFailed('catalog is broken: ' + '; '.join(breaking))
    return report
