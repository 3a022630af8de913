"""Validate: TFDV statistics of a catalog's rows, checked against the curated schema and for drift.

    fashion-pipeline validate --catalog DIR --output DIR [--baseline STATS] [--max-quarantine-rate R]

Writes, under OUTPUT (published atomically): stats.pb (DatasetFeatureStatisticsList, the next run's
--baseline), anomalies.pbtxt and anomalies.txt, quarantine/*.jsonl, manifest.json (counts, balance,
breaking problems, warnings). Exits non-zero, after publishing the report, when the catalog breaks the
schema (a type break, a required column missing) or quarantines more than the allowed rate. New category
values and drift past the schema's thresholds are warnings.
"""
import argparse
import sys

from pipelines.jobs import arguments, stages
from pipelines.storage import files


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline validate',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--catalog', required=True, help='folder with styles.csv and images/')
    parser.add_argument('--output', required=True, help='folder to publish the validation report into')
    parser.add_argument('--baseline', help="an earlier run's stats.pb, to check for drift")
    arguments.add_validation_gate_arguments(parser)
    args, pipeline_options = arguments.parse(parser, argv)
    files.check_paths(args, folders=['catalog', 'output'], files=['baseline'])
    return stages.validate_catalog(args.catalog, args.output, args.baseline, pipeline_options,
                                   args.max_quarantine_rate, args.max_unlabelled_rate)


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['validate', *sys.argv[1:]]))
