"""Command-line arguments more than one job takes, and the checks every job's arguments get before any work
starts. (Named for arguments: in the rest of the project a "flag" is a likely mislabel.)

A job's own arguments are split from Beam's PipelineOptions as Beam's examples do; path arguments are checked up
front (storage.files.check_paths), so a file where a folder belongs (or the reverse) ends in one line, not in
a traceback mid-run.
"""
import argparse

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.jobs import runners
from pipelines.rules import alerts, neighbours, predictions
from pipelines.transforms.scoring import Scoring


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
    runners.check(options)
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


def add_scoring_arguments(parser):
    parser.add_argument('--disagree-min-confidence', type=fraction, default=predictions.DISAGREE_MIN_CONFIDENCE,
                        help='flag a known given class as a likely mislabel when the model predicts another class '
                             'with at least this calibrated confidence AND gives the given class no more than the '
                             "threshold fitted on the val split and stored in the model's export (assets.extra/"
                             'calibration.json). Both must hold: raising this knob flags fewer, surer items; the '
                             'fitted threshold keeps confusable pairs out '
                             f'(default {predictions.DISAGREE_MIN_CONFIDENCE})')
    parser.add_argument('--accept-min-confidence', type=fraction, default=predictions.ACCEPT_MIN_CONFIDENCE,
                        help='a label filled in for an item with an Unknown given class is marked needs_review below '
                             f'this calibrated confidence (default {predictions.ACCEPT_MIN_CONFIDENCE})')
    add_neighbours_argument(parser, 'a label and a prediction of one pair are never flagged')
    parser.add_argument('--inference-batch-size', type=int, default=predictions.INFERENCE_BATCH_SIZE,
                        help="images per RunInference batch, a bundle's last one smaller "
                             f'(default {predictions.INFERENCE_BATCH_SIZE})')


def add_neighbours_argument(parser, effect):
    """--neighbours FILE: the declared neighbour pairs (rules/neighbours.py), with what they do to the job."""
    parser.add_argument('--neighbours', default=neighbours.SHIPPED_PATH, metavar='FILE',
                        help=f'articleType pairs the catalog team declared neighbours (rules/neighbours.py): {effect} '
                             f'(default: the shipped schemas/{artifacts.NEIGHBOURS})')


def scoring(args):
    """How to score, as the flags chose (inference batch size, the flag's thresholds)."""
    if args.inference_batch_size < 1:
        raise UserError('--inference-batch-size must be at least 1')
    return Scoring(args.inference_batch_size,
                   predictions.Thresholds(args.disagree_min_confidence, args.accept_min_confidence,
                                          neighbours.load(args.neighbours)))


def add_alert_arguments(parser):
    """The nightly's alert limits (rules/alerts.py): beyond one the run still publishes and lists the alert."""
    limits = alerts.Limits()
    group = parser.add_argument_group('alerts (against the previous run; the run still publishes)')
    group.add_argument('--alert-quarantine-rise', type=fraction, default=limits.quarantine_rise,
                       help=f'quarantine share rising by more than this (default {limits.quarantine_rise})')
    group.add_argument('--alert-unlabelled-rise', type=fraction, default=limits.unlabelled_rise,
                       help=f'unlabelled share rising by more than this (default {limits.unlabelled_rise})')
    group.add_argument('--alert-disagreements-ratio', type=float, default=limits.disagreements_ratio,
                       help='new disagreements per 1,000 items scored above this many times the previous run\'s '
                            f'(default {limits.disagreements_ratio})')
    group.add_argument('--alert-confidence-drop', type=fraction, default=limits.confidence_drop,
                       help=f'mean calibrated confidence falling by more than this (default {limits.confidence_drop})')
    group.add_argument('--alert-drift-warnings-rise', type=int, default=limits.drift_warnings_rise,
                       help=f'more drift warnings than the previous run by more than this '
                            f'(default {limits.drift_warnings_rise})')


def alert_limits(args):
    return alerts.Limits(args.alert_quarantine_rise, args.alert_unlabelled_rise, args.alert_disagreements_ratio,
                         args.alert_confidence_drop, args.alert_drift_warnings_rise)


def add_validation_gate_arguments(parser):
    parser.add_argument('--max-quarantine-rate', type=fraction, default=0.05,
                        help='fraction of rows that may be quarantined before the run breaks (default 0.05)')
    parser.add_argument('--max-unlabelled-rate', type=fraction,
                        help='fraction of rows that may leave a label column empty before the run breaks '
                             '(default: no limit; unlabelled rows are kept and scored, and their share is reported)')
