"""Shared fixtures: a synthetic catalog, its prepared output, and the real catalog when it is present.

Under CI (CI set, as the CI harness does) nothing may be skipped: a missing part (the real catalog, Chromium,
Airflow, Flink, gunicorn) fails its test (`missing`), and a run in which any test was skipped anyway fails at
the end (pytest_sessionfinish). Elsewhere the skips stay, each with its reason."""
import fcntl
import glob
import os
import pickle
import re
import shutil

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_CATALOG = os.path.normpath(os.path.join(ROOT, '..', 'shared', 'data', 'fashion-product-images-small'))


# Tests that need a trained model are slow: `make test-fast` leaves them out (pytest.ini's `slow` marker).
SLOW_FIXTURES = {'trained'}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


def under_ci():
    return bool(os.environ.get('CI'))


def missing(reason):
    """A part the test needs is missing: fails under CI, skips elsewhere."""
    if under_ci():
        pytest.fail(f'{reason} (under CI nothing is skipped)', pytrace=False)
    pytest.skip(reason)


def pytest_sessionfinish(session, exitstatus):
    """Under CI, a run with a skipped test fails, whatever skipped it. And the model the in-process jobs' RunInference
    kept is freed before exit, as the CLI does (pipelines/cli.py, release_shared_models)."""
    from pipelines import cli  # pylint: disable=import-outside-toplevel
    cli.release_shared_models()
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    skipped = reporter.stats.get('skipped', []) if reporter else []
    if under_ci() and skipped and exitstatus == 0:
        reporter.write_line(f'CI: {len(skipped)} test(s) skipped, and under CI nothing may be skipped: failing the run',
                            red=True)
        session.exitstatus = 1


def real_catalog_or_skip():
    if not os.path.exists(os.path.join(REAL_CATALOG, 'styles.csv')):
        missing(f'the real catalog is not at {REAL_CATALOG} (CI has it; a user machine may not)')
    return REAL_CATALOG


def read_examples(prepared_dir):
    """{id: (class_name, class_index, split)} of every example in a prepared folder's TFRecords."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    examples = {}
    for path in sorted(glob.glob(os.path.join(prepared_dir, 'tfrecords', '*.tfrecord.gz'))):
        split = os.path.basename(path).split('-')[0]
        for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            example_id = feature['id'].bytes_list.value[0].decode()
            assert example_id not in examples, f'{example_id} written twice'
            examples[example_id] = (feature['class_name'].bytes_list.value[0].decode(),
                                    feature['class_index'].int64_list.value[0], split)
    return examples


def _once(config, tmp_path_factory, name, compute):
    """A session fixture's value, computed once per test run. `make test` runs the tests in two pytest-xdist workers,
    each with its own session: the first worker that needs the value computes it, in a folder both can read, and
    the other waits on a lock and reads its pickle (the recipe in xdist's docs, with fcntl for filelock). `compute`
    gets a fresh folder."""
    if not hasattr(config, 'workerinput'):  # one process: no xdist
        return compute(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above each worker's own
    with open(shared / f'{name}.lock', 'w', encoding='ascii') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored = shared / f'{name}.pickle'
        if stored.exists():
            return pickle.loads(stored.read_bytes())
        folder = shared / name
        shutil.rmtree(folder, ignore_errors=True)  # a worker that failed computing it left it
        folder.mkdir()
        value = compute(folder)
        stored.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope='session')
def days(pytestconfig, tmp_path_factory):
    """The nightly's day 1 and day 2 (tests/nightly_days.py)."""
    from tests.nightly_days import write_days  # pylint: disable=import-outside-toplevel
    return _once(pytestconfig, tmp_path_factory, 'days', write_days)


@pytest.fixture(scope='session')
def synthetic_catalog(pytestconfig, tmp_path_factory):
    from pipelines.jobs import synth  # pylint: disable=import-outside-toplevel

    def compute(folder):
        path = str(folder / 'catalog')
        synth.run(['--output', path, '--rows', '300', '--seed', '7'])
        return path
    return _once(pytestconfig, tmp_path_factory, 'synthetic', compute)


@pytest.fixture(scope='session')
def prepared_synthetic(synthetic_catalog, pytestconfig, tmp_path_factory):
    from pipelines.jobs import prepare  # pylint: disable=import-outside-toplevel

    def compute(folder):
        output = str(folder / 'out')
        return output, prepare.run(['--catalog', synthetic_catalog, '--output', output])
    return _once(pytestconfig, tmp_path_factory, 'prepared', compute)


@pytest.fixture(scope='session')
def validated_synthetic(synthetic_catalog, pytestconfig, tmp_path_factory):
    """The synthetic catalog validated on the DirectRunner: (output dir, report). Shared by the validate tests and
    the Flink test that compares with it."""
    from pipelines.jobs import validate  # pylint: disable=import-outside-toplevel

    def compute(folder):
        output = str(folder / 'out')
        return output, validate.run(['--catalog', synthetic_catalog, '--output', output])
    return _once(pytestconfig, tmp_path_factory, 'validated', compute)


@pytest.fixture(scope='session')
def scored_trained(trained, pytestconfig, tmp_path_factory):
    """The trained fixture's catalog scored by its model on the DirectRunner: (output dir, summary), the baseline
    the Flink test compares with."""
    from pipelines.jobs import score  # pylint: disable=import-outside-toplevel

    def compute(folder):
        output = str(folder / 'direct')
        return output, score.run(['--catalog', trained[0], '--model', trained[4], '--output', output])
    return _once(pytestconfig, tmp_path_factory, 'scored', compute)


@pytest.fixture(scope='session')
def two_nights(days, trained, pytestconfig, tmp_path_factory):
    """The nightly on day 1, then day 2, on the DirectRunner with the trained model: (state dir, day 1's summary,
    day 1's published catalog, day 2's summary). Shared by the nightly tests and the Flink test."""
    from pipelines.jobs import nightly  # pylint: disable=import-outside-toplevel
    from tests.nightly_days import published  # pylint: disable=import-outside-toplevel

    def compute(folder):
        state_dir = str(folder / 'state')
        first = nightly.run(['--catalog', days['day1'], '--model', trained[4], '--state', state_dir])
        day1_catalog = published(state_dir)
        second = nightly.run(['--catalog', days['day2'], '--model', trained[4], '--state', state_dir])
        return state_dir, first, day1_catalog, second
    return _once(pytestconfig, tmp_path_factory, 'two_nights', compute)


def makefile_value(name):
    """A `NAME ?= value` line of the Makefile, split into words."""
    with open(os.path.join(ROOT, 'Makefile'), encoding='utf-8') as f:
        return re.search(rf'^{name} \?= (.*)$', f.read(), re.M).group(1).split()


def makefile_recipe(target, values):
    """The commands of a Makefile target's recipe, continuation lines joined and `$(NAME)` replaced from `values`
    (then from the Makefile's `NAME ?=` lines), as argument lists; echo lines (`@`) left out."""
    with open(os.path.join(ROOT, 'Makefile'), encoding='utf-8') as f:
        text = f.read().replace('\\\n', ' ')
    recipe = re.search(rf'^{target}:.*\n((?:\t.*\n)+)', text, re.M).group(1)

    def expand(match):
        return values.get(match.group(1)) or ' '.join(makefile_value(match.group(1)))
    return [re.sub(r'\$\((\w+)\)', expand, line.strip()).split() for line in recipe.splitlines()
            if not line.strip().startswith('@')]


@pytest.fixture(scope='session')
def trained(pytestconfig, tmp_path_factory):
    """`make demo`'s catalog and model (the Makefile's DEMO_ROWS, DEMO_SEED and DEMO_TRAIN_FLAGS: a 3-epoch run on
    600 synthetic items, BatchNorm momentum 0.9 so its statistics settle), prepared on the in-memory DirectRunner:
    (catalog dir, prepared dir, model dir, metrics, export path)."""
    from pipelines.jobs import prepare, synth  # pylint: disable=import-outside-toplevel
    from trainer import train  # pylint: disable=import-outside-toplevel

    def compute(root):
        catalog_dir, prepared, model_dir = str(root / 'catalog'), str(root / 'prepared'), str(root / 'model')
        synth.run(['--output', catalog_dir, '--rows', *makefile_value('DEMO_ROWS'),
                   '--seed', *makefile_value('DEMO_SEED'), '--show-attributes'])
        prepare.run(['--catalog', catalog_dir, '--output', prepared])
        metrics, export_path = train.run(['--data', prepared, '--model-dir', model_dir,
                                          *makefile_value('DEMO_TRAIN_FLAGS')])
        return catalog_dir, prepared, model_dir, metrics, export_path
    return _once(pytestconfig, tmp_path_factory, 'trained', compute)
