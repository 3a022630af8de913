"""Infers the styles.csv schema from a catalog and curates it: how `schemas/styles_schema.pbtxt` was made.

    python -m pipelines.make_schema --catalog ../shared/data/fashion-product-images-small \
        --output schemas/styles_schema.pbtxt

Run once on the real catalog; the result is committed and reviewed like code (see `stats.curate` for
what the curation changes).
"""
import argparse
import logging
import sys
import tempfile

import apache_beam as beam
import tensorflow_data_validation as tfdv
from apache_beam.io.filesystems import FileSystems

from pipelines import catalog, options as options_lib, stats
from pipelines.read import ReadCatalog


def run(argv=None):
    parser = argparse.ArgumentParser(prog='python -m pipelines.make_schema', description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--output', required=True, help='where to write the curated schema (text proto)')
    args, pipeline_options = options_lib.parse(parser, argv)
    header = catalog.read_header(args.catalog)
    with tempfile.TemporaryDirectory() as scratch:
        stats_path = FileSystems.join(scratch, 'stats.pb')
        with beam.Pipeline(options=pipeline_options) as p:
            rows = (p | 'read catalog' >> ReadCatalog(args.catalog, header))['rows']
            _ = (rows
                 | 'statistics' >> stats.GenerateStatistics()
                 | 'write statistics' >> tfdv.WriteStatisticsToBinaryFile(stats_path))
        statistics = tfdv.load_stats_binary(stats_path)
    schema = stats.curate(tfdv.infer_schema(statistics))
    tfdv.write_schema_text(schema, args.output)
    print(f'wrote {args.output} from {statistics.datasets[0].num_examples} rows of {args.catalog}')


if __name__ == '__main__':
    logging.getLogger().setLevel(logging.WARNING)
    run(sys.argv[1:])
