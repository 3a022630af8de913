"""`make demo`'s steps, twice: the same model each time (a fixed seed, TensorFlow's op determinism and a
canonical training order whatever shards the runner wrote), clearing the demo's bar by a wide margin."""
import os

import keras
import numpy as np
import pytest

from pipelines import artifacts
from pipelines.jobs import prepare
from tests.conftest import makefile_value
from trainer import train

pytestmark = pytest.mark.slow  # trains the demo model a second time


def test_the_demo_steps_give_the_same_model_twice_and_it_clears_the_demo_bar(trained, tmp_path):
    """The session's `trained` model is the demo's, prepared on the in-memory DirectRunner; here the same catalog
    is prepared by two worker processes (the shards differ) and trained again: the model must not differ."""
    catalog, _, first_dir, first, _ = trained
    prepared, model_dir = str(tmp_path / 'prepared-multi'), str(tmp_path / 'model-multi')
    prepare.run(['--catalog', catalog, '--output', prepared,
                 '--direct_running_mode=multi_processing', '--direct_num_workers=2'])
    second, _ = train.run(['--data', prepared, '--model-dir', model_dir, *makefile_value('DEMO_TRAIN_FLAGS')])
    first_model, second_model = (keras.models.load_model(os.path.join(folder, artifacts.MODEL_FILE), compile=False)
                                 for folder in (first_dir, model_dir))
    assert all(np.array_equal(a, b) for a, b in zip(first_model.get_weights(), second_model.get_weights()))
    assert first['test.accuracy'] == second['test.accuracy']
    bar = float(makefile_value('DEMO_TRAIN_FLAGS')[-1])
    assert first['test.accuracy'] >= bar + 0.15, 'the demo model should clear its bar by a wide margin'
