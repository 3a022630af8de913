"""Staged publishing: a job's output appears whole or not at all."""
import os

import pytest

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files, publish


def _write(folder, name, text):
    with open(os.path.join(folder, name), 'w', encoding='utf-8') as f:
        f.write(text)


def test_a_successful_block_replaces_the_previous_output(tmp_path):
    output = str(tmp_path / 'out')
    for version in ('one', 'two'):
        with publish.staged(output) as staging:
            os.makedirs(staging)
            _write(staging, artifacts.MANIFEST, version)
        assert files.read_text(os.path.join(output, artifacts.MANIFEST)) == version
    assert os.listdir(tmp_path) == ['out']


def test_a_failed_block_leaves_the_previous_output_and_no_staging(tmp_path):
    output = str(tmp_path / 'out')
    with publish.staged(output) as staging:
        os.makedirs(staging)
        _write(staging, artifacts.MANIFEST, 'good')
    with pytest.raises(RuntimeError):
        with publish.staged(output) as staging:
            os.makedirs(staging)
            _write(staging, artifacts.MANIFEST, 'half')
            raise RuntimeError('the pipeline failed')
    assert files.read_text(os.path.join(output, artifacts.MANIFEST)) == 'good'
    assert os.listdir(tmp_path) == ['out']


def test_a_folder_that_is_not_an_output_of_ours_is_never_replaced(tmp_path):
    _write(tmp_path, 'thesis.txt', 'precious')
    with pytest.raises(UserError, match='refusing to replace'):
        with publish.staged(str(tmp_path)):
            pass
    assert os.listdir(tmp_path) == ['thesis.txt']
