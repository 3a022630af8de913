"""`make demo`'s steps, as the Makefile's recipe gives them: prepare and train twice give the same model (a fixed
seed, float32, TensorFlow's op determinism and a canonical training order whatever shards the runner wrote),
clearing the demo's bar by a wide margin; validate, score, nightly and report run once on that model."""
import os

import keras
import numpy as np
import pytest

from pipelines import artifacts, cli
from pipelines.storage import files, state
from tests.conftest import makefile_recipe, makefile_value

pytestmark = pytest.mark.slow  # trains the demo model a second time
STEPS = ['synth', 'validate', 'prepare', 'train', 'score', 'nightly', 'report']


def _steps(demo):
    """{step: its arguments} of the demo's recipe, run in-process with the demo folder at `demo`."""
    commands = [c for c in makefile_recipe('demo', {'BIN': 'bin', 'DEMO': demo}) if c[0] == 'bin/fashion-pipeline']
    assert [c[1] for c in commands] == STEPS, 'a step was added to `make demo`: test it here'
    return {c[1]: c[1:] for c in commands}


def test_the_demo_steps_give_the_same_model_twice_and_it_clears_the_demo_bar(trained, tmp_path):
    """The session's `trained` model is the demo's, prepared on the in-memory DirectRunner; here the same catalog
    is prepared by the recipe's two worker processes (the shards differ) and trained again: the model must not
    differ."""
    catalog, _, first_dir, first, _ = trained
    demo = str(tmp_path / 'demo')
    os.makedirs(demo)
    os.symlink(catalog, os.path.join(demo, 'catalog'))
    steps = _steps(demo)
    assert '--direct_running_mode=multi_processing' in steps['prepare'] and 'float32' in steps['train']
    assert cli.main(steps['prepare']) == 0 and cli.main(steps['train']) == 0
    second = files.read_json(os.path.join(demo, 'model', artifacts.METRICS))
    first_model, second_model = (keras.models.load_model(os.path.join(folder, artifacts.MODEL_FILE), compile=False)
                                 for folder in (first_dir, os.path.join(demo, 'model')))
    assert all(np.array_equal(a, b) for a, b in zip(first_model.get_weights(), second_model.get_weights()))
    assert first['test.accuracy'] == second['test.accuracy']
    bar = float(makefile_value('DEMO_TRAIN_FLAGS')[-1])
    assert first['test.accuracy'] >= bar + 0.15, 'the demo model should clear its bar by a wide margin'


def test_the_demos_other_steps_run_on_its_model(trained, tmp_path):
    catalog, prepared, model_dir, _, _ = trained
    demo = str(tmp_path / 'demo')
    os.makedirs(demo)
    for name, target in (('catalog', catalog), ('prepared', prepared), ('model', model_dir)):
        os.symlink(target, os.path.join(demo, name))
    steps = _steps(demo)
    for step in ('validate', 'score', 'nightly', 'report'):
        assert cli.main(steps[step]) == 0, step
    validation = files.read_json(os.path.join(demo, 'validation', artifacts.MANIFEST))
    assert validation['verdict'] == 'valid'
    scored = files.read_json(os.path.join(demo, 'scores', artifacts.SUMMARY))
    published = state.current_run(os.path.join(demo, 'state'))
    nightly = files.read_json(os.path.join(state.run_path(os.path.join(demo, 'state'), published), artifacts.SUMMARY))
    assert scored['scored'] == nightly['scored'] > 0
    with open(os.path.join(demo, 'report.html'), encoding='utf-8') as f:
        assert '<html' in f.read(2000).lower()
