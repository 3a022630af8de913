"""Prepare: a catalog -> Class-labelled, content-hash-split, sharded GZIP TFRecords and a manifest.

    fashion-pipeline prepare --catalog DIR --output DIR [--taxonomy FILE | --derive-taxonomy] [--overrides FILE]
                             [--attribute-overrides FILE] [beam options]

With --overrides (a label_overrides.csv that `fashion-pipeline review --export-overrides` writes), reviewers'
corrections replace a row's label columns before the label checks (so an unlabelled item a reviewer labelled
is trained on), unless the row or its image changed since the decision (the override is then stale). The file is
checked up front and read in the pipeline, as the nightly reads decisions: the job graph a cluster is sent does
not grow with it. --attribute-overrides (an attribute_overrides.csv, `review --export-attribute-overrides`) does the
same for reviewers' decisions on flagged attributes: a row takes the decided gender, baseColour or usage.

Writes, under OUTPUT (published atomically once the pipeline succeeded):
  tfrecords/{train,val,test}-SSSSS-of-NNNNN.tfrecord.gz   tf.train.Examples (image bytes, id, class, labels)
  labels.txt       the class vocabulary, line number = class_index
  taxonomy.json    the taxonomy applied (shipped, given or derived)
  unknown.csv      Free Items the relabel could not place, for the scoring job
  quarantine/*.jsonl  every rejected row with its reason
  manifest.json    counts that reconcile: rows_read = rows_kept + rows_quarantined; with --overrides, the
                   overrides applied / stale / ignored (unknown id, label outside the taxonomy), each listed;
                   the same for --attribute-overrides under `attribute_overrides`
"""
import argparse
import sys
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.jobs import arguments, launch
from pipelines.rules import catalog, examples, manifest, taxonomy as taxonomy_lib
from pipelines.storage import files, overrides_file, publish
from pipelines.rules.split import SPLITS
from pipelines.transforms.classes import AssignClass, DeriveTaxonomy
from pipelines.transforms.encode import EncodeExamples
from pipelines.transforms.overrides import ApplyOverrides
from pipelines.transforms.read import ReadCatalog
from pipelines.transforms.write import WriteManifest, WriteQuarantine


def build_pipeline(p, catalog_dir, header, output, taxonomy, runner, overrides_path=None,
                   attribute_overrides_path=None):
    """Adds the prepare job to `p`; `taxonomy` is a Taxonomy to apply, or None to derive one;
    `overrides_path` names a label_overrides.csv and `attribute_overrides_path` an attribute_overrides.csv (both
    checked already) of reviewers' corrections to apply first."""
    read = p | 'read catalog' >> ReadCatalog(catalog_dir, header)
    if taxonomy is None:
        taxonomy_pc = read['rows'] | 'derive taxonomy' >> DeriveTaxonomy()
    else:
        taxonomy_pc = p | 'shipped taxonomy' >> beam.Create([taxonomy.to_dict()])
    classes = taxonomy_pc | 'class vocabulary' >> beam.Map(lambda t: list(taxonomy_lib.Taxonomy.from_dict(t).classes))
    rows, outcomes = read['rows'], {}
    for name, path in (('overrides', overrides_path), ('attribute_overrides', attribute_overrides_path)):
        if path is not None:
            overridden = rows | f'apply {name}' >> ApplyOverrides(
                path, overrides_file.fieldnames(path), taxonomy_pc, of_attributes=name == 'attribute_overrides')
            rows, outcomes[name] = overridden.rows, overridden.outcomes
    classified = rows | 'assign class' >> AssignClass(taxonomy_pc)
    encoded = classified.rows | 'encode examples' >> EncodeExamples(classes)
    for split in SPLITS:
        _ = encoded[split] | f'write {split} tfrecords' >> beam.io.WriteToTFRecord(
            FileSystems.join(output, artifacts.TFRECORDS, split), file_name_suffix=artifacts.TFRECORD_SUFFIX)
    _ = (encoded['unknown']
         | 'unknown to csv' >> beam.Map(examples.unknown_line)
         | 'write unknown.csv' >> beam.io.WriteToText(
             FileSystems.join(output, artifacts.UNKNOWN), file_name_suffix='.csv', num_shards=1,
             shard_name_template='', header=','.join(examples.UNKNOWN_COLUMNS)))
    quarantine = ((read['quarantine'], classified.quarantine, encoded['quarantine'])
                  | 'all quarantine' >> beam.Flatten())
    _ = quarantine | 'write quarantine' >> WriteQuarantine(output)
    counted = {'taxonomy': taxonomy_pc, 'rows_read': read['rows_read'], 'orphan_images': read['orphan_images'],
               'repaired': read['repaired'], 'summaries': encoded['summary'], 'quarantine': quarantine, **outcomes}
    _ = counted | 'manifest' >> WriteManifest(output, runner)


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline prepare',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--output', required=True, help='folder to publish the prepared data into')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--taxonomy', help='taxonomy JSON to apply (default: the shipped one)')
    group.add_argument('--derive-taxonomy', action='store_true',
                       help="derive the taxonomy from this catalog's counts (the reference notebook's procedure)")
    parser.add_argument('--overrides', help='a label_overrides.csv of reviewers\' decisions to apply first')
    parser.add_argument('--attribute-overrides',
                        help="an attribute_overrides.csv of reviewers' decisions on flagged attributes to apply first")
    args, pipeline_options = arguments.parse(parser, argv)
    files.check_paths(args, folders=['catalog', 'output'], files=['taxonomy', 'overrides', 'attribute_overrides'])
    taxonomy = None if args.derive_taxonomy else taxonomy_lib.load(args.taxonomy or taxonomy_lib.SHIPPED_PATH)
    data = prepare(args.catalog, args.output, pipeline_options, taxonomy, args.overrides, args.attribute_overrides)
    print(f'prepared {args.output}: read {data["rows_read"]}, kept {data["rows_kept"]}, quarantined '
          f'{data["rows_quarantined"]} {data["quarantined_by_reason"]}, repaired {data["repaired"]["count"]}; '
          f'{sum(map(len, data["class_counts"].values()))} class counts, taxonomy {data["taxonomy_version"]}')
    if data['overrides'] is not None:
        print(f'overrides: {data["overrides"]["applied"]} applied, {data["overrides"]["stale"]} stale (the row or '
              f'image changed since the decision), {data["overrides"]["ignored"]} ignored')
    if data.get('attribute_overrides') is not None:
        counted = data['attribute_overrides']
        print(f'attribute overrides: {counted["applied"]} applied, {counted["stale"]} stale, {counted["ignored"]} '
              'ignored')
    return data


def prepare(catalog_dir: str, output: str, pipeline_options: PipelineOptions,
            taxonomy: Optional[taxonomy_lib.Taxonomy] = None, overrides_path: Optional[str] = None,
            attribute_overrides_path: Optional[str] = None) -> dict:
    """Prepares `catalog_dir` into `output`, published atomically, and returns its manifest. `taxonomy` None
    derives one from the catalog; `overrides_path` names a label_overrides.csv and `attribute_overrides_path` an
    attribute_overrides.csv to apply first. Paths are the caller's to check (files.check_paths); a bad catalog or
    overrides file is a UserError."""
    if overrides_path:
        overrides_file.read(overrides_path)  # a bad file is one line here, before any work
    if attribute_overrides_path:
        overrides_file.read(attribute_overrides_path, of_attributes=True)
    header = catalog.read_header(catalog_dir)
    if not FileSystems.exists(catalog.images_dir(catalog_dir)):
        raise UserError(f'no images/ folder in catalog {catalog_dir!r}')
    runner = arguments.runner_description(pipeline_options)
    with publish.staged(output) as staging:
        counters = launch.run(pipeline_options, build_pipeline, catalog_dir, header, staging, taxonomy, runner,
                              overrides_path, attribute_overrides_path)
        data = dict(files.read_json(FileSystems.join(staging, artifacts.MANIFEST)), counters=counters)
        manifest.check_reconciled(data['rows_read'], kept=data['rows_kept'], quarantined=data['rows_quarantined'])
        files.write_json(FileSystems.join(staging, artifacts.MANIFEST), data)
    return data


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['prepare', *sys.argv[1:]]))
