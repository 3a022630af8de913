"""Infers the styles.csv schema from a catalog and curates it: how `schemas/styles_schema.pbtxt` was made.

    python -m pipelines.jobs.make_schema --catalog ../shared/data/fashion-product-images-small \
        --output schemas/styles_schema.pbtxt

Run once on the real catalog; the result is committed and reviewed like code (see `rules/schema.py:curate` for
what the curation changes).
"""
import argparse
import sys
import tempfile

import tensorflow_data_validation as tfdv
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.jobs import arguments, launch
from pipelines.rules import catalog, schema
from pipelines.storage import files
from pipelines.transforms.read import ReadCatalog
from pipelines.transforms.statistics import GenerateStatistics


def build_pipeline(p, catalog_dir, header, stats_path):
    rows = (p | 'read catalog' >> ReadCatalog(catalog_dir, header))['rows']
    _ = (rows
         | 'statistics' >> GenerateStatistics()
         | 'write statistics' >> tfdv.WriteStatisticsToBinaryFile(stats_path))


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline make_schema',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--output', required=True, help='where to write the curated schema (text proto)')
    args, pipeline_options = arguments.parse(parser, argv)
    files.check_paths(args, folders=['catalog'], files=['output'])
    header = catalog.read_header(args.catalog)
    with tempfile.TemporaryDirectory() as scratch:
        stats_path = FileSystems.join(scratch, artifacts.STATS)
        launch.run(pipeline_options, build_pipeline, args.catalog, header, stats_path)
        statistics = tfdv.load_stats_binary(stats_path)
    tfdv.write_schema_text(schema.curate(tfdv.infer_schema(statistics)), args.output)
    print(f'wrote {args.output} from {statistics.datasets[0].num_examples} rows of {args.catalog}')


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['make_schema', *sys.argv[1:]]))
