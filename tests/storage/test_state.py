"""The nightly state folder: the lock (owner, heartbeat, expiry, takeover, breaking it, the best-effort path on
an object store), CURRENT, unfinished and old runs."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from pipelines import artifacts
from pipelines.errors import LockHeld
from pipelines.storage import state
from tests import fake_store


def _write_lock(folder, **holder):
    (folder / artifacts.LOCK).write_text(json.dumps({'run': 'r0', 'host': socket.gethostname(), 'pid': os.getpid(),
                                                     'heartbeat': time.time(), **holder}))


def test_a_held_lock_names_its_owner_refuses_a_second_run_and_is_released_after(tmp_path):
    with state.lock(str(tmp_path), 'r1') as taken_over:
        assert taken_over == (None, None)
        holder = json.loads((tmp_path / artifacts.LOCK).read_text())
        assert holder['run'] == 'r1' and holder['pid'] == os.getpid() and holder['host'] == socket.gethostname()
        with pytest.raises(LockHeld, match=r'another nightly run holds .*run r1 \(host'):
            with state.lock(str(tmp_path), 'r2'):
                pass
    assert not os.path.exists(tmp_path / artifacts.LOCK)
    with state.lock(str(tmp_path), 'r3'):
        pass


def test_the_lock_of_a_dead_process_is_taken_over_and_says_whose(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True,
                          check=True).stdout.strip()
    _write_lock(tmp_path, pid=int(dead))
    with state.lock(str(tmp_path), 'r1') as (holder, reason):
        assert holder['pid'] == int(dead) and reason == 'its process is gone'


def test_another_hosts_live_lock_is_held_and_its_expired_lock_taken_over(tmp_path):
    _write_lock(tmp_path, host='elsewhere', pid=1)
    with pytest.raises(LockHeld, match='host elsewhere'):
        with state.lock(str(tmp_path), 'r1'):
            pass
    _write_lock(tmp_path, host='elsewhere', pid=1, heartbeat=time.time() - 2 * state.LOCK_TTL_SECONDS)
    with state.lock(str(tmp_path), 'r1') as (holder, reason):
        assert holder['host'] == 'elsewhere' and reason.startswith('its heartbeat is older than')


def test_a_live_run_renews_its_heartbeat_and_never_removes_a_lock_taken_from_it(tmp_path, monkeypatch):
    monkeypatch.setattr(state, 'HEARTBEAT_SECONDS', 0.05)
    with state.lock(str(tmp_path), 'r1'):
        first = json.loads((tmp_path / artifacts.LOCK).read_text())['heartbeat']
        time.sleep(0.3)
        assert json.loads((tmp_path / artifacts.LOCK).read_text())['heartbeat'] > first
        assert state.break_lock(str(tmp_path))['run'] == 'r1'
        _write_lock(tmp_path, run='r2')  # an operator broke it and another run took it
        time.sleep(0.3)
    assert json.loads((tmp_path / artifacts.LOCK).read_text())['run'] == 'r2'


def test_breaking_a_lock_says_whose_it_was(tmp_path):
    assert state.break_lock(str(tmp_path)) is None
    _write_lock(tmp_path, host='elsewhere', pid=7)
    holder = state.break_lock(str(tmp_path))
    assert 'host elsewhere, pid 7' in state.describe(holder) and not os.path.exists(tmp_path / artifacts.LOCK)


def test_on_an_object_store_the_lock_is_a_best_effort_check_with_the_same_expiry(tmp_path, monkeypatch):
    monkeypatch.setattr(fake_store.FakeStore, 'root', str(tmp_path))
    store = fake_store.PREFIX + 'state'
    (tmp_path / 'state').mkdir()
    with state.lock(store, 'r1') as taken_over:
        assert taken_over == (None, None)
        assert json.loads((tmp_path / 'state' / artifacts.LOCK).read_text())['run'] == 'r1'
        with pytest.raises(LockHeld, match='run r1'):
            with state.lock(store, 'r2'):
                pass
    assert not (tmp_path / 'state' / artifacts.LOCK).exists()
    _write_lock(tmp_path / 'state', host='elsewhere', heartbeat=time.time() - 2 * state.LOCK_TTL_SECONDS)
    with state.lock(store, 'r3') as (holder, reason):
        assert holder['host'] == 'elsewhere' and 'heartbeat' in reason


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


RACE = """import multiprocessing, os, sys
from pipelines.errors import LockHeld
from pipelines.storage import state

def race(state_dir, run_id, start, outcomes, release):
    start.wait(10)
    try:
        with state.lock(state_dir, run_id):
            outcomes.put('won')
            release.wait(10)
    except LockHeld:
        outcomes.put('held')

root, dead, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
context = multiprocessing.get_context('fork')
for n in range(rounds):
    folder = os.path.join(root, str(n))
    os.makedirs(folder)
    with open(os.path.join(folder, 'LOCK'), 'w') as f:
        f.write('{"run": "r0", "host": "%s", "pid": %d, "heartbeat": 1e12}' % (os.uname().nodename, dead))
    start, release, outcomes = context.Event(), context.Event(), context.Queue()
    racers = [context.Process(target=race, args=(folder, f'r{k}', start, outcomes, release)) for k in range(4)]
    for racer in racers:
        racer.start()
    start.set()
    print(n, sorted(outcomes.get(timeout=30) for _ in racers), flush=True)
    release.set()
    for racer in racers:
        racer.join(30)
"""


def test_runs_racing_on_one_stale_lock_leave_exactly_one_winner(tmp_path):
    """50 rounds of 4 processes that all find the same dead run's lock: exactly one takes it each time. The racers
    fork from a small process of their own (forking this test process, which holds TensorFlow, costs more)."""
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True,
                          check=True).stdout.strip()
    (tmp_path / 'race.py').write_text(RACE)
    (tmp_path / 'rounds').mkdir()
    result = subprocess.run([sys.executable, str(tmp_path / 'race.py'), str(tmp_path / 'rounds'), dead, '50'],
                            capture_output=True, text=True, timeout=300, check=True,
                            env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__))))))
    rounds = result.stdout.splitlines()
    assert len(rounds) == 50
    for line in rounds:
        assert line.split(' ', 1)[1] == "['held', 'held', 'held', 'won']", line


def test_a_run_past_its_maximum_age_is_taken_over_though_it_beats_and_cannot_publish_after(tmp_path, monkeypatch):
    """A hung run's heartbeat thread keeps beating; its age is what ends its hold."""
    monkeypatch.setattr(state, 'HEARTBEAT_SECONDS', 0.05)
    root = str(tmp_path)
    with state.lock(root, 'hung', max_age=0.5):
        os.makedirs(state.run_path(root, 'hung'))
        with pytest.raises(LockHeld, match='run hung'):
            with state.lock(root, 'next'):
                pass
        time.sleep(0.8)
        holder = json.loads((tmp_path / artifacts.LOCK).read_text())
        assert time.time() - holder['heartbeat'] > 0.2, 'the heartbeat renewed past the maximum age'
        with state.lock(root, 'next') as (taken, reason):
            assert taken['run'] == 'hung' and 'older than its maximum age' in reason
            with pytest.raises(LockHeld, match='run hung no longer holds the lock'):
                state.set_current_while_held(root, 'hung')
            assert state.current_run(root) is None
            state.set_current_while_held(root, 'next')
    assert state.current_run(root) == 'next' and not (tmp_path / artifacts.LOCK).exists()


def test_the_lock_of_a_zombie_process_is_taken_over(tmp_path):
    """A run killed with its parent stays a zombie where nothing reaps it (a container's first process)."""
    zombie = subprocess.Popen([sys.executable, '-c', 'pass'])
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(f'/proc/{zombie.pid}/stat', encoding='ascii') as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break
        time.sleep(0.05)
    try:
        _write_lock(tmp_path, pid=zombie.pid)
        with state.lock(str(tmp_path), 'r1') as (holder, reason):
            assert holder['pid'] == zombie.pid and reason == 'its process is gone'
    finally:
        zombie.wait()
