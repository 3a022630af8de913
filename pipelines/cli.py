"""`fashion-pipeline`: one console script, a subcommand per job.

Each subcommand takes the job's own flags plus standard Beam pipeline options (--runner, ...). Problems
with the input or the flags end with one line on stderr and a non-zero exit, not a traceback.
"""
import importlib
import logging
import os
import sys
import warnings

SUBCOMMANDS = {
    'synth': ('pipelines.synth', 'write a synthetic catalog in the Kaggle layout'),
    'validate': ('pipelines.validate', 'TFDV statistics, schema and drift checks of a catalog'),
    'prepare': ('pipelines.prepare', 'catalog -> Class-labelled, split, sharded TFRecords + manifest'),
    'train': ('trainer.train', 'TFRecords -> trained, evaluated, exported seed CNN'),
    'evaluate': ('trainer.evaluate', 'metrics, reports and blessing of a trained model'),
    'score': ('pipelines.score', 'label a whole catalog with an exported model (RunInference)'),
    'nightly': ('pipelines.nightly', 'validate, score what changed, publish the labelled catalog (scheduled)'),
    'report': ('pipelines.report', 'one self-contained HTML page of the catalog, model and scores in figures'),
}
EXIT_USER_ERROR = 2
EXIT_VALIDATION_FAILED = 3


def _quiet():
    """TensorFlow, TFDV and Google client libraries log pages at import; the jobs print what matters."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore::FutureWarning')  # Beam's worker processes too
    warnings.filterwarnings('ignore', category=FutureWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    # Beam's own Top combiner warns that its per-bundle DoFn returns no iterator, on every use.
    logging.getLogger('apache_beam.transforms.core').setLevel(logging.ERROR)


def _usage():
    lines = ['usage: fashion-pipeline SUBCOMMAND [flags] [beam pipeline options]', '', 'subcommands:']
    lines += [f'  {name:10s} {help_text}' for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ['', "'fashion-pipeline SUBCOMMAND --help' lists a subcommand's flags."]
    return '\n'.join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print(_usage())
        return 0 if argv else EXIT_USER_ERROR
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f'{_usage()}\n\nfashion-pipeline: error: unknown subcommand {name!r}', file=sys.stderr)
        return EXIT_USER_ERROR
    _quiet()
    from pipelines.errors import UserError, ValidationFailed  # pylint: disable=import-outside-toplevel
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        module.run(rest)
    except ValidationFailed as e:
        print(f'fashion-pipeline {name}: {e}', file=sys.stderr)
        return EXIT_VALIDATION_FAILED
    except UserError as e:
        print(f'fashion-pipeline {name}: error: {e}', file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == '__main__':
    sys.exit(main())
