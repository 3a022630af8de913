"""The nightly state folder: the lock, CURRENT, unfinished and old runs."""
import json
import os
import subprocess
import sys

import pytest

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import state


def test_a_held_lock_refuses_a_second_run_and_is_released_after(tmp_path):
    with state.lock(str(tmp_path)) as took_over:
        assert took_over is False
        with pytest.raises(UserError, match='another nightly run holds'):
            with state.lock(str(tmp_path)):
                pass
    assert not os.path.exists(tmp_path / artifacts.LOCK)
    with state.lock(str(tmp_path)):
        pass


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True,
                          check=True).stdout.strip()
    import socket  # pylint: disable=import-outside-toplevel
    (tmp_path / artifacts.LOCK).write_text(json.dumps({'pid': int(dead), 'host': socket.gethostname()}))
    with state.lock(str(tmp_path)) as took_over:
        assert took_over is True


def test_current_moves_in_one_step_and_prune_keeps_the_newest(tmp_path):
    root = str(tmp_path)
    assert state.current_run(root) is None
    for run_id in ('r1', 'r2', 'r3', 'r4'):
        os.makedirs(state.run_path(root, run_id))
    state.set_current(root, 'r3')
    assert state.current_run(root) == 'r3'
    assert [name for name in os.listdir(root) if name.startswith(artifacts.CURRENT)] == [artifacts.CURRENT]
    assert state.remove_unfinished(root, 'r3') == ['r4']
    assert state.prune(root, 'r3', keep=2) == ['r1']
    assert state.run_ids(root) == ['r2', 'r3']
