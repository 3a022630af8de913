"""Splitting a job's own flags from Beam's PipelineOptions, as Beam's examples do."""
import argparse

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


def parse(parser, argv):
    """Returns (the job's own args, PipelineOptions built from the rest).

    Without --runner the job runs on Beam's DirectRunner (its FnApi runner on 2.63; the project keeps Beam
    below 2.68, where the DirectRunner starts trying the Prism runner, which downloads a binary).
    """
    known, pipeline_args = parser.parse_known_args(argv)
    options = PipelineOptions(pipeline_args)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = 'DirectRunner'
    return known, options


def runner_description(options):
    """The runner and, for the DirectRunner, its running mode: recorded in manifests."""
    all_options = options.get_all_options()
    runner = all_options.get('runner') or 'DirectRunner'
    if runner == 'DirectRunner':
        return f'DirectRunner/{all_options.get("direct_running_mode") or "in_memory"}'
    return runner


def fraction(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'{text} is not a fraction between 0 and 1')
    return value
