"""The shipped DAGs in real Airflow (`airflow dags test`, SQLite, no scheduler), from Airflow's own virtual
environment (.airflow-venv, which .ci/run installs; the project never depends on Airflow). Each task's attempts
are counted by a wrapper around the CLI: a clean catalog publishes once, a broken one fails without a retry, a
held lock is retried, the weekly audit publishes, and the weekly retrain moves the models folder's CURRENT."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from pipelines import artifacts
from pipelines.jobs import synth
from pipelines.rules import decisions
from pipelines.storage import models, reviews, state
from tests.catalog_files import read_catalog
from tests.conftest import ROOT, missing
from tests.sockets import loopback_only, this_process_tree

pytestmark = pytest.mark.slow  # real Airflow

AIRFLOW_VENV = os.environ.get('FASHION_AIRFLOW_VENV', os.path.join(ROOT, '.airflow-venv'))
AIRFLOW = os.path.join(AIRFLOW_VENV, 'bin', 'airflow')
DAGS = os.path.join(ROOT, 'deploy')
RUN_LIMIT_S = 900


@pytest.fixture(scope='module')
def airflow(tmp_path_factory):
    """The environment `airflow` runs in, its database migrated; the test skips where Airflow is missing."""
    if not os.access(AIRFLOW, os.X_OK):
        missing(f'no Airflow at {AIRFLOW} (.ci/run installs apache-airflow into .airflow-venv; '
                    'set FASHION_AIRFLOW_VENV to use another)')
    home = tmp_path_factory.mktemp('airflow')
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(('AIRFLOW', 'PYTHON', 'VIRTUAL_ENV'))},
           'AIRFLOW_HOME': str(home), 'AIRFLOW__CORE__DAGS_FOLDER': DAGS, 'AIRFLOW__CORE__LOAD_EXAMPLES': 'False',
           'FASHION_RETRY_DELAY_SECONDS': '2'}
    subprocess.run([AIRFLOW, 'db', 'migrate'], env=env, check=True, capture_output=True, timeout=RUN_LIMIT_S)
    return env


@pytest.fixture(autouse=True)
def loopback(airflow):
    """The socket watch over Airflow and the jobs its tasks run (children of this process) while each test runs."""
    with loopback_only(this_process_tree, 'Airflow or a job it ran'):
        yield


def _wrapper(folder):
    """A CLI that runs the real one and logs each attempt: task, try number (Airflow's context variables), exit code."""
    path = os.path.join(folder, 'fashion-pipeline')
    attempts = os.path.join(folder, 'attempts')
    real = os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(f'#!/bin/sh\n{real} "$@"\ncode=$?\n'
                f'echo "$AIRFLOW_CTX_TASK_ID $AIRFLOW_CTX_TRY_NUMBER $code" >> {attempts}\nexit $code\n')
    os.chmod(path, 0o755)
    return path, attempts


def _attempts(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8') as f:
        return f.read().split('\n')[:-1]


def _dags_test(env, dag_id, variables, background=False):
    run_env = {**env, **{f'AIRFLOW_VAR_{k.upper()}': v for k, v in variables.items()}}
    command = [AIRFLOW, 'dags', 'test', dag_id, '2026-11-29']
    if background:
        return subprocess.Popen(command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=RUN_LIMIT_S)


@pytest.fixture()
def setup(trained, tmp_path):
    """A models folder whose CURRENT is the trained fixture model, a state folder, the wrapper CLI."""
    models_dir = tmp_path / 'models'
    release = '20261101T000000000000Z'
    shutil.copytree(os.path.dirname(os.path.dirname(trained[4])), models_dir / release,
                    ignore=shutil.ignore_patterns('backup', 'logs', 'checkpoints'))
    (models_dir / release / artifacts.RETRAIN).write_text(json.dumps({'version': release}))
    models.move_current(str(models_dir), release, models.PROMOTE, 'test')
    cli, attempts = _wrapper(str(tmp_path))
    # Paths a shell would split or run: a space and a `;` (pasted unquoted, the command would touch PWNED)
    catalog = str(tmp_path / 'the catalog; echo x')
    shutil.copytree(trained[0], catalog)
    variables = {'fashion_pipeline_bin': cli, 'fashion_catalog': catalog, 'fashion_models': str(models_dir),
                 'fashion_state': f'{tmp_path}/my state;touch {tmp_path}/PWNED;x'}
    return variables, attempts, tmp_path


def _published_summary(state_dir):
    with open(os.path.join(state.run_path(state_dir, state.current_run(state_dir)), artifacts.SUMMARY),
              encoding='utf-8') as f:
        return json.load(f)


def test_a_clean_catalog_publishes_on_the_first_try_whatever_its_paths_hold(airflow, setup):
    variables, attempts, tmp_path = setup
    variables['fashion_rehash_weekday'] = str(datetime.date.today().isoweekday())
    result = _dags_test(airflow, 'fashion_catalog_nightly', variables)
    assert state.current_run(variables['fashion_state']), result.stdout[-3000:]
    assert _attempts(attempts) == ['nightly 1 0']
    assert _published_summary(variables['fashion_state'])['rehash'], 'the weekly full read did not happen today'
    assert 'state=success' in result.stdout + result.stderr
    assert not os.path.exists(tmp_path / 'PWNED'), 'a Variable ran as shell code'


def test_every_task_has_a_time_limit_and_only_the_nightly_retries(airflow):
    script = ('import json, sys; sys.path.insert(0, sys.argv[1]); import airflow_fashion as d\n'
              'print(json.dumps({t.task_id: [t.retries, t.execution_timeout.total_seconds()] '
              'for dag in (d.nightly, d.audit, d.retrain, d.backup) for t in dag.tasks} '
              '| {"dag": type(d.nightly).__module__, '
              '"tz": str(d.nightly.start_date.tzinfo)}))')
    result = subprocess.run([os.path.join(AIRFLOW_VENV, 'bin', 'python'), '-c', script, DAGS],
                            env=dict(airflow, AIRFLOW_VAR_FASHION_RETRAIN_TIMEOUT_MINUTES='90'), capture_output=True,
                            text=True, timeout=RUN_LIMIT_S, check=True)
    tasks = json.loads(result.stdout.strip().splitlines()[-1])
    assert tasks.pop('dag').startswith('airflow.sdk') and tasks.pop('tz') in ('UTC', 'utc')
    assert tasks == {'nightly': [3, 240 * 60], 'export_overrides': [0, 30 * 60], 'retrain': [0, 90 * 60],
                     'backup_reviews': [0, 30 * 60], 'audit': [0, 480 * 60]}


def test_a_state_on_an_object_store_without_a_local_reviews_database_is_refused_up_front(airflow, setup):
    variables, attempts, _ = setup
    result = _dags_test(airflow, 'fashion_catalog_retrain', dict(variables, fashion_state='gs://bucket/state'))
    output = result.stdout + result.stderr
    assert 'set the Airflow Variable(s) fashion_reviews_db, fashion_overrides_file to local paths' in output
    assert _attempts(attempts) == [], 'the CLI ran'


def test_the_nightly_backup_copies_the_decisions_and_needs_its_folder(airflow, setup):
    variables, attempts, tmp_path = setup
    state_dir = variables['fashion_state']
    os.makedirs(state_dir)
    for n in range(3):
        reviews.record(os.path.join(state_dir, artifacts.REVIEWS), decisions.Decision(
            id=str(n), decision='keep', masterCategory='A', subCategory='B', articleType='C', given_class='X',
            predicted_class='Y', flagged=True, decided_by='Ana', decided_at=reviews.now(), model_version='1',
            catalog_version='run', fingerprint='f'))
    refused = _dags_test(airflow, 'fashion_reviews_backup', variables)
    assert 'set the Airflow Variable(s) fashion_backup_dir' in refused.stdout + refused.stderr
    assert _attempts(attempts) == []
    backups = tmp_path / 'backups; echo x'
    result = _dags_test(airflow, 'fashion_reviews_backup', dict(variables, fashion_backup_dir=str(backups)))
    assert _attempts(attempts) == ['backup_reviews 1 0'], result.stdout[-3000:]
    [copy] = os.listdir(backups)
    assert copy == f'reviews-{datetime.date.today():%a}.sqlite'
    assert len(reviews.history(str(backups / copy), 100)) == 3


def test_a_broken_catalog_fails_without_a_retry(airflow, setup):
    variables, attempts, tmp_path = setup
    styles, jpegs = read_catalog(variables['fashion_catalog'])
    for row in styles[:30]:
        row['year'] = 'last year'
    synth.write_catalog(str(tmp_path / 'broken'), styles, jpegs)
    result = _dags_test(airflow, 'fashion_catalog_nightly', dict(variables, fashion_catalog=str(tmp_path / 'broken')))
    output = result.stdout + result.stderr
    assert _attempts(attempts) == ['nightly 1 3'], output[-3000:]
    assert 'exited 3' in output and 'state=failed' in output
    assert state.current_run(variables['fashion_state']) is None


def test_a_held_lock_is_retried_and_then_publishes(airflow, setup):
    variables, attempts, _ = setup
    state_dir = variables['fashion_state']
    holding, release = threading.Event(), threading.Event()

    def hold():
        with state.lock(state_dir, 'holder'):
            holding.set()
            release.wait(RUN_LIMIT_S)

    variables['fashion_rehash_weekday'] = str(datetime.date.today().isoweekday() % 7 + 1)
    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    holding.wait(30)
    process = _dags_test(airflow, 'fashion_catalog_nightly', variables, background=True)
    try:
        deadline = time.time() + RUN_LIMIT_S
        while not _attempts(attempts) and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)  # until the first attempt has met the lock and exited
        release.set()
        output, _ = process.communicate(timeout=RUN_LIMIT_S)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
    assert _attempts(attempts) == ['nightly 1 75', 'nightly 2 0'], output[-3000:]
    assert state.current_run(state_dir) and 'state=success' in output
    assert not _published_summary(state_dir)['rehash'], 'a full read on a day that is not the weekly one'


def test_the_weekly_retrain_moves_current(airflow, setup):
    variables, attempts, _ = setup
    models_dir = variables['fashion_models']
    before = models.current(models_dir)
    result = _dags_test(airflow, 'fashion_catalog_retrain', dict(
        variables, fashion_train_options='--epochs 2 --batch-size 8 --bn-momentum 0.9 --bless-min-accuracy 0.5 '
                                         '--tolerance 1'))
    output = result.stdout + result.stderr
    assert _attempts(attempts) == ['export_overrides 1 0', 'retrain 1 0'], output[-3000:]
    assert models.current(models_dir) != before and len(models.releases(models_dir)) == 2
    assert 'state=success' in output


def test_the_weekly_audit_publishes_after_exporting_the_decisions(airflow, setup):
    variables, attempts, tmp_path = setup
    audit_dir = str(tmp_path / 'the audit; x')
    refused = _dags_test(airflow, 'fashion_catalog_audit', variables)
    assert 'set the Airflow Variable(s) fashion_audit_dir' in refused.stdout + refused.stderr
    result = _dags_test(airflow, 'fashion_catalog_audit', dict(  # the image-only audit: the quicker models
        variables, fashion_audit_dir=audit_dir,
        fashion_audit_options='--model resnet --epochs 1 --batch-size 8 --bn-momentum 0.9'))
    output = result.stdout + result.stderr
    assert _attempts(attempts) == ['export_overrides 1 0', 'export_overrides 1 0', 'audit 1 0'], output[-3000:]
    with open(os.path.join(audit_dir, artifacts.SUMMARY), encoding='utf-8') as f:
        summary = json.load(f)
    assert summary['folds'] == 2 and summary['audited'] > 0 and summary['overrides'] is not None
    assert summary['model'] == 'resnet' and summary['heads'] == ['fused']
    assert 'state=success' in output and not os.path.exists(tmp_path / 'PWNED')


HANGING_NIGHTLY = '''import os, subprocess, sys, time
from pipelines import cli
from pipelines.jobs import nightly

def hang(*args):
    """Holds the lock (validation runs inside it) with a child in its process group, as a worker or a job server."""
    child = subprocess.Popen(['sleep', '600'])
    with open(sys.argv[1] + '/pids', 'w') as f:
        f.write(f'{os.getpid()} {child.pid}\\n')
    time.sleep(600)

nightly.validate = hang
with open(sys.argv[1] + '/starts', 'a') as f:
    f.write('start\\n')
code = cli.main(['nightly', *sys.argv[2:]])
with open(sys.argv[1] + '/exit', 'w') as f:
    f.write(str(code))
sys.exit(code)
'''


def test_a_nightly_past_its_time_limit_ends_with_its_process_group_releases_the_lock_and_is_not_retried(airflow,
                                                                                                        setup):
    """Airflow's execution_timeout SIGTERMs the command's process group: the CLI turns it into its cleanup (the lock
    released), nothing of the group outlives the task, and a timeout is not retried as a held lock is."""
    variables, _, tmp_path = setup
    script = tmp_path / 'hanging_nightly.py'
    script.write_text(HANGING_NIGHTLY)
    cli = tmp_path / 'hanging-cli'
    cli.write_text(f'#!/bin/sh\nexec {sys.executable} {script} {tmp_path} "$@"\n')
    cli.chmod(0o755)
    state_dir = variables['fashion_state']
    result = _dags_test(dict(airflow, PYTHONPATH=ROOT, AIRFLOW_VAR_FASHION_NIGHTLY_TIMEOUT_MINUTES='0.5'),
                        'fashion_catalog_nightly', dict(variables, fashion_pipeline_bin=str(cli)))
    output = result.stdout + result.stderr
    assert (tmp_path / 'pids').exists(), f'the job never reached the lock: {output[-3000:]}'
    pids = [int(pid) for pid in (tmp_path / 'pids').read_text().split()]
    deadline = time.time() + 30
    while any(state.process_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(state.process_alive(pid) for pid in pids), 'part of the process group outlived the task'
    assert (tmp_path / 'exit').read_text() == '143', 'the CLI did not end through its cleanup'
    assert not os.path.exists(os.path.join(state_dir, artifacts.LOCK)), 'the lock was left behind'
    assert 'ran past its time limit' in output and 'state=failed' in output
    assert (tmp_path / 'starts').read_text().splitlines() == ['start'], 'a timed-out run was retried'
    assert state.current_run(state_dir) is None
