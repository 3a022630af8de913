"""The weekly retrain and the models pointer: promote when better, refuse when worse, roll back, and a retrain
killed mid-way leaves CURRENT naming a complete model."""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from pipelines import artifacts
from pipelines.jobs import models as models_job, retrain
from pipelines.storage import exported_model, models

pytestmark = pytest.mark.slow  # trains four models

QUICK = ['--batch-size', '8', '--bn-momentum', '0.9', '--bless-min-accuracy', '0']
WEAK = ['--epochs', '1', '--learning-rate', '1e-7', *QUICK]  # a model that learns next to nothing
GOOD = ['--epochs', '3', *QUICK]


@pytest.fixture(scope='module')
def history(synthetic_catalog, tmp_path_factory):
    """A weak first model, a good one, then a weak one again: (models dir, the three summaries)."""
    models_dir = str(tmp_path_factory.mktemp('models') / 'models')
    runs = [retrain.run(['--catalog', synthetic_catalog, '--models', models_dir, *args]) for args in (WEAK, GOOD, WEAK)]
    return models_dir, runs


def test_the_first_blessed_model_is_promoted_and_a_better_one_replaces_it(history, synthetic_catalog):
    models_dir, (first, better, _) = history
    assert first['promoted'] and first['current'] is None
    assert better['promoted'] and better['current'] == first['version']
    assert better['test_accuracy'] > better['current_test_accuracy'] + 0.2
    assert models.releases(models_dir) == sorted(r['version'] for r in history[1])
    folder = models.release_path(models_dir, better['version'])
    for name in (artifacts.RETRAIN, artifacts.METRICS, artifacts.BLESSING, artifacts.MODEL_FILE, artifacts.PREPARED):
        assert os.path.exists(os.path.join(folder, name)), name
    assert better['catalog'] == os.path.abspath(synthetic_catalog) and better['overrides'] is None


def test_a_worse_model_is_refused_and_current_stays(history):
    models_dir, (_, better, worse) = history
    assert not worse['promoted'] and 'worse than the current model' in worse['reason']
    assert worse['current'] == better['version'] == models.current(models_dir)
    export = exported_model.newest_version(models_dir)
    assert export.startswith(models.release_path(models_dir, better['version']))
    with open(os.path.join(models_dir, artifacts.METRICS_PROM), encoding='utf-8') as f:
        assert 'fashion_retrain_promoted 0' in f.read()


def test_rollback_restores_the_previous_model_and_promote_moves_it_back(history):
    models_dir, (first, better, worse) = history
    assert models_job.run(['--models', models_dir, '--rollback']) == first['version']
    assert models_job.run(['--models', models_dir, '--promote', better['version']]) == better['version']
    assert models_job.run(['--models', models_dir]) == better['version']
    lines = models_job.listing(models_dir)
    assert len(lines) == 3 and lines[1].startswith(f'* {better["version"]}') and 'not promoted' in lines[2]


def test_a_retrain_killed_while_training_leaves_current_valid(history, synthetic_catalog):
    models_dir = history[0]
    current = models.current(models_dir)
    command = [sys.executable, '-m', 'pipelines.jobs.retrain', '--catalog', synthetic_catalog, '--models', models_dir,
               '--epochs', '3', *QUICK]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    training = []  # this run's own staging folder, once it trains: the fixture's versions never match
    while not training and process.poll() is None and time.time() < deadline:
        training = glob.glob(os.path.join(models_dir, '*.staging-*', artifacts.TRAINING_LOG))
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert training, 'the retrain ended before it started training'
    assert models.current(models_dir) == current
    assert models.releases(models_dir) == sorted(r['version'] for r in history[1])
    assert os.path.exists(os.path.join(exported_model.newest_version(models_dir), artifacts.SAVED_MODEL))
