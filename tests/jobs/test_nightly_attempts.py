"""What a failing or blocked nightly leaves for the team: every attempt's exit code in nightly_attempt.prom
(never touching what the run holding the lock writes), a lock that expires or that an operator breaks."""
import json
import os
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines import artifacts, cli
from pipelines.jobs import synth
from pipelines.storage import state
from tests import fake_export
from tests.catalog_files import read_catalog

pytestmark = pytest.mark.slow  # seven nightly runs


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('attempts')
    catalog = str(root / 'catalog')
    synth.run(['--output', catalog, '--rows', '120', '--seed', '4'])
    styles, jpegs = read_catalog(catalog)
    for row in styles[:40]:
        row['year'] = 'last year'  # a type break: validation fails, exit 3
    synth.write_catalog(str(root / 'broken'), styles, jpegs)
    return catalog, str(root / 'broken'), fake_export.write(str(root / 'export')).path


def _nightly(catalog, model, state_dir, *extra):
    return cli.main(['nightly', '--catalog', catalog, '--model', model, '--state', state_dir, '--allow-unblessed',
                     *extra])


def _gauges(path):
    with open(path, encoding='utf-8') as f:
        return {s.name: s.value for family in text_string_to_metric_families(f.read()) for s in family.samples}


def _lock(state_dir, **holder):
    with open(os.path.join(state_dir, artifacts.LOCK), 'w', encoding='utf-8') as f:
        json.dump({'run': 'r0', 'host': 'elsewhere', 'pid': 7, 'heartbeat': time.time(), **holder}, f)


def test_every_attempt_writes_its_exit_code_and_the_last_success(setup, tmp_path):
    catalog, broken, model = setup
    state_dir = str(tmp_path / 'state')
    attempt = os.path.join(state_dir, artifacts.NIGHTLY_ATTEMPT_PROM)
    assert _nightly(catalog, model, state_dir) == 0
    first = _gauges(attempt)
    assert first['fashion_nightly_attempt_exit_code'] == 0
    assert first['fashion_nightly_last_success_timestamp_seconds'] == first['fashion_nightly_attempt_timestamp_seconds']
    assert _nightly(broken, model, state_dir) == 3
    failed = _gauges(attempt)
    assert failed['fashion_nightly_attempt_exit_code'] == 3
    last_success = 'fashion_nightly_last_success_timestamp_seconds'
    assert failed[last_success] == first[last_success]
    assert failed['fashion_nightly_attempt_timestamp_seconds'] > first['fashion_nightly_attempt_timestamp_seconds']


def test_a_blocked_attempt_never_touches_what_the_lock_holder_writes(setup, tmp_path):
    catalog, _, model = setup
    state_dir = str(tmp_path / 'state')
    assert _nightly(catalog, model, state_dir) == 0
    with open(os.path.join(state_dir, artifacts.METRICS_PROM), encoding='utf-8') as f:
        metrics = f.read()
    with state.lock(state_dir, 'holder'):
        assert _nightly(catalog, model, state_dir) == 75
        with open(os.path.join(state_dir, artifacts.LOCK), encoding='utf-8') as f:
            assert json.load(f)['run'] == 'holder'
    with open(os.path.join(state_dir, artifacts.METRICS_PROM), encoding='utf-8') as f:
        assert f.read() == metrics
    assert _gauges(os.path.join(state_dir, artifacts.NIGHTLY_ATTEMPT_PROM))['fashion_nightly_attempt_exit_code'] == 75


def test_a_state_folder_that_is_a_file_gets_nothing_written(setup, tmp_path):
    catalog, _, model = setup
    (tmp_path / 'state').write_text('not a folder')
    assert _nightly(catalog, model, str(tmp_path / 'state')) == 2
    assert os.listdir(tmp_path) == ['state']


def test_an_expired_lock_is_taken_over_and_a_live_one_broken_by_an_operator(setup, tmp_path, capsys):
    catalog, _, model = setup
    state_dir = str(tmp_path / 'state')
    os.makedirs(state_dir)
    _lock(state_dir, heartbeat=time.time() - 2 * state.LOCK_TTL_SECONDS)
    assert _nightly(catalog, model, state_dir) == 0
    assert 'took over the lock of run r0 (host elsewhere, pid 7' in capsys.readouterr().err
    with open(os.path.join(state.run_path(state_dir, state.current_run(state_dir)), artifacts.SUMMARY),
              encoding='utf-8') as f:
        summary = json.load(f)
    assert summary['took_over_stale_lock'] and summary['took_over_lock_of'].startswith('run r0 (host elsewhere')
    _lock(state_dir, run='r9', host=socket.gethostname(), pid=os.getpid())  # live: this very process
    assert _nightly(catalog, model, state_dir) == 75
    assert _nightly(catalog, model, state_dir, '--break-lock') == 0
    assert 'broke the lock of run r9' in capsys.readouterr().err
    assert not os.path.exists(os.path.join(state_dir, artifacts.LOCK))
