"""Whether the catalog reader's counts come out exact on a runner at scale: the reason the 1,000,000-item night does
not run on the multi-process DirectRunner (BENCHMARKS.md, "A million items a night").

    .venv/bin/python benchmarks/direct_runner_counts.py --catalog /work/scale/1000000 --runs 2 \
        [--direct_running_mode=multi_processing --direct_num_workers=2]

Runs ReadCatalog (every job's reader) alone, `--runs` times, and prints what it counted: rows read (a
Count.Globally over the parsed lines), rows kept, distinct kept ids, rows quarantined. On a catalog from
benchmarks/scale.py every line parses, so rows read must equal the catalog's lines and kept + quarantined must equal
rows read. Any other argument is a Beam pipeline option.
"""
import argparse
import json
import os
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pipelines.rules import catalog  # noqa: E402
from pipelines.transforms.read import ReadCatalog  # noqa: E402


def _counted(name):
    return beam.Map(lambda n, name=name: print(json.dumps({name: n}), flush=True))


def count_once(catalog_dir, beam_args):
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        read = p | 'read' >> ReadCatalog(catalog_dir, catalog.read_header(catalog_dir))
        _ = read['rows_read'] | 'show read' >> _counted('rows_read')
        _ = read['rows'] | 'count kept' >> beam.combiners.Count.Globally() | 'show kept' >> _counted('kept')
        _ = (read['rows'] | 'ids' >> beam.Map(lambda r: r.id) | 'distinct' >> beam.Distinct()
             | 'count ids' >> beam.combiners.Count.Globally() | 'show ids' >> _counted('distinct_ids'))
        _ = (read['quarantine'] | 'count quarantined' >> beam.combiners.Count.Globally()
             | 'show quarantined' >> _counted('quarantined'))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--runs', type=int, default=1)
    args, beam_args = parser.parse_known_args(argv)
    with open(catalog.styles_path(args.catalog), 'rb') as f:
        print(json.dumps({'lines': sum(1 for _ in f) - 1, 'options': beam_args}), flush=True)
    for _ in range(args.runs):
        count_once(args.catalog, beam_args)


if __name__ == '__main__':
    main()
