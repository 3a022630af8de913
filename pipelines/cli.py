"""`fashion-pipeline`: one console script, a subcommand per job.

Each subcommand takes the job's own flags plus standard Beam pipeline options (--runner, ...). Problems
with the input or the flags end with one line on stderr and a non-zero exit, not a traceback.
"""
import contextlib
import gc
import importlib
import io
import logging
import os
import signal
import sys
import threading
import warnings

from pipelines.errors import JobFailed, LockHeld, Terminated, Unavailable, UserError, ValidationFailed

SUBCOMMANDS = {
    'synth': ('pipelines.jobs.synth', 'write a synthetic catalog in the Kaggle layout'),
    'validate': ('pipelines.jobs.validate', 'TFDV statistics, schema and drift checks of a catalog'),
    'prepare': ('pipelines.jobs.prepare', 'catalog -> Class-labelled, split, sharded TFRecords + manifest'),
    'train': ('trainer.train', 'TFRecords -> trained, evaluated, calibrated, exported model'),
    'retrain': ('pipelines.jobs.retrain', 'prepare with overrides, train, compare, publish a version, move CURRENT'),
    'models': ('pipelines.jobs.models', 'list model versions; roll back or promote the one in use'),
    'evaluate': ('trainer.evaluate', 'metrics, reports and blessing of a trained model'),
    'score': ('pipelines.jobs.score', 'label a whole catalog with an exported model (RunInference)'),
    'audit': ('pipelines.jobs.audit', 'every label checked out of sample by K models: ranked issues, noise per class'),
    'nightly': ('pipelines.jobs.nightly', 'validate, score what changed, publish the labelled catalog (scheduled)'),
    'review': ('pipelines.jobs.review', 'flagged items to a reviewer in the browser; overrides and Label Studio'),
    'report': ('pipelines.jobs.report', 'one self-contained HTML page of the catalog, model and scores in figures'),
    'make_schema': ('pipelines.jobs.make_schema', 'infer and curate the styles.csv schema from a catalog (once)'),
}
# Exit codes, one meaning each (README "Exit codes"): 0 published or done; the others are the errors' own.
EXIT_USER_ERROR = UserError.exit_code  # 2: bad input or flags: permanent, a retry cannot help
EXIT_VALIDATION_FAILED = ValidationFailed.exit_code  # 3: the catalog broke validation, nothing published
EXIT_LOCK_HELD = LockHeld.exit_code  # 75 (sysexits.h): another run holds the lock: temporary, retry later


def _quiet(verbose):
    """Only the job's own words on stderr unless --verbose.

    TensorFlow, TFDV and Google's client libraries log pages when they are imported. TF_CPP_MIN_LOG_LEVEL=2
    is not enough: the "Unable to register cuFFT / cuDNN / cuBLAS factory" lines are logged at ERROR level
    by XLA's stream executor when TensorFlow's CUDA plugins register a second time at import (a known
    TensorFlow 2.16 wheel issue, harmless on a CPU), so level 3 is needed to drop them. Python warnings
    (Keras' notes on tf.data input, deprecations) are dropped too, in Beam's worker processes as well.
    """
    if verbose:
        logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
        return
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    warnings.filterwarnings('ignore')
    logging.basicConfig(level=logging.ERROR, format='%(levelname)s %(name)s: %(message)s')
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_job_messages)


def _not_job_messages(record):
    """Beam's portable runner (Flink, Spark) logs every message of the job to the root logger, a failed worker's
    whole Java and Python traceback among them: the failure reaches the user as JobFailed's one line."""
    return not record.pathname.endswith(os.path.join('portability', 'portable_runner.py'))


def _raise_terminated(signum, frame):
    """SIGTERM ends the job through its cleanup (Terminated); a second one ends the process at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated('stopped by SIGTERM')


def _usage():
    lines = ['usage: fashion-pipeline SUBCOMMAND [flags] [beam pipeline options]', '', 'subcommands:']
    lines += [f'  {name:10s} {help_text}' for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ['', "'fashion-pipeline SUBCOMMAND --help' lists a subcommand's flags; --verbose anywhere keeps "
              "TensorFlow's and Beam's own logs."]
    return '\n'.join(lines)


def release_shared_models():
    """Frees the model that Beam's RunInference keeps alive after a pipeline (`apache_beam.utils.shared` holds the
    last object it handed out) while TensorFlow is whole. Left to interpreter shutdown, TensorFlow's function
    destructors run after its module globals are gone and print "Exception ignored in AtomicFunction.__del__"."""
    shared = sys.modules.get('apache_beam.utils.shared')
    if shared is not None:
        shared._shared_map._keepalive = (None, None)  # pylint: disable=protected-access
        gc.collect()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    verbose = '--verbose' in argv
    argv = [arg for arg in argv if arg != '--verbose']
    if not argv or argv[0] in ('-h', '--help'):
        print(_usage())
        return 0 if argv else EXIT_USER_ERROR
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f'{_usage()}\n\nfashion-pipeline: error: unknown subcommand {name!r}', file=sys.stderr)
        return EXIT_USER_ERROR
    _quiet(verbose)
    with contextlib.redirect_stderr(sys.stderr if verbose else io.StringIO()):
        # TFDV writes to stderr at import when IPython (its notebook display) is missing.
        module = importlib.import_module(SUBCOMMANDS[name][0])
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        module.run(rest)
    except Terminated as e:
        print(f'fashion-pipeline {name}: {e}', file=sys.stderr)
        return e.exit_code
    except ValidationFailed as e:
        print(f'fashion-pipeline {name}: {e}', file=sys.stderr)
        return e.exit_code
    except (LockHeld, Unavailable) as e:
        print(f'fashion-pipeline {name}: {e} (temporary: try again later)', file=sys.stderr)
        return e.exit_code
    except JobFailed as e:
        print(f'fashion-pipeline {name}: {e}', file=sys.stderr)
        return e.exit_code
    except UserError as e:
        print(f'fashion-pipeline {name}: error: {e}', file=sys.stderr)
        return e.exit_code
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)
        release_shared_models()
    return 0


if __name__ == '__main__':
    sys.exit(main())
