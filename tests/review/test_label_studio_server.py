"""The review loop through a running Label Studio 1.23.2 (.label-studio-venv, which .ci/run installs): started once
for the module, headless, on 127.0.0.1, with a fresh data folder and two users whose personal access tokens are made
over HTTP (a login and POST /api/token/, as the Account page does), never in a browser."""
import contextlib
import os
import re
import socket
import subprocess
import time

import pytest
import requests

from pipelines import cli
from pipelines.jobs import review
from pipelines.review import label_studio, label_studio_api, queue as review_queue
from pipelines.storage import reviews
from tests import review_state
from tests.conftest import ROOT, missing
from tests.sockets import descendants, loopback_only, snapshot

LABEL_STUDIO = os.path.join(os.environ.get('FASHION_LABEL_STUDIO_VENV', os.path.join(ROOT, '.label-studio-venv')),
                            'bin', 'label-studio')
START_TIMEOUT_S = 150  # the first start migrates a fresh SQLite database
PROJECT = 'Catalog review (test)'
ADMIN, ANNOTATOR = ('admin@example.com', 'admin-pass-1234'), ('bo@example.com', 'bo-pass-1234')


def _free_port():
    with socket.create_server(('127.0.0.1', 0)) as s:
        return s.getsockname()[1]


def _wait_until_up(url, process, log):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f'Label Studio exited with {process.returncode}: {_tail(log)}', pytrace=False)
        with contextlib.suppress(requests.RequestException):
            if requests.get(f'{url}/health', timeout=5).ok:
                return
        time.sleep(1)
    pytest.fail(f'Label Studio did not answer within {START_TIMEOUT_S} s: {_tail(log)}', pytrace=False)


def _tail(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        return ' | '.join(f.read().splitlines()[-15:])


def _session(url, email, password, signup=False):
    """A logged-in browser-less session (Django's CSRF cookie and form, as the login page posts them)."""
    session = requests.Session()
    page = f'{url}/user/{"signup" if signup else "login"}/'
    session.get(page, timeout=30)
    answer = session.post(page, data={'email': email, 'password': password,
                                      'csrfmiddlewaretoken': session.cookies['csrftoken']},
                          headers={'Referer': page}, timeout=30)
    assert answer.ok and 'sessionid' in session.cookies, (answer.status_code, answer.text[:300])
    return session


def _personal_access_token(url, session):
    """POST /api/token/ as the Account page's "Create" does: the personal access token (a JWT refresh token)."""
    answer = session.post(f'{url}/api/token/', headers={'X-CSRFToken': session.cookies['csrftoken'],
                                                        'Referer': f'{url}/user/account'}, timeout=30)
    assert answer.status_code == 201, (answer.status_code, answer.text[:300])
    return answer.json()['token']


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """(url, admin's token, annotator's token, [the server's pid]) of a Label Studio running for this module, under
    the socket watch from its start to its stop."""
    if not os.access(LABEL_STUDIO, os.X_OK):
        missing(f'no Label Studio at {LABEL_STUDIO} (.ci/run installs label-studio==1.23.2 into .label-studio-venv)')
    data = tmp_path_factory.mktemp('label-studio')
    port, log = _free_port(), str(data / 'server.log')
    url = f'http://127.0.0.1:{port}'
    env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(data), SENTRY_DSN='', FRONTEND_SENTRY_DSN='',
               COLLECT_ANALYTICS='false', LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK='false')
    pids = []
    with loopback_only(lambda: descendants(pids), 'Label Studio'), open(log, 'w', encoding='utf-8') as out:
        process = subprocess.Popen(
            [LABEL_STUDIO, 'start', '--no-browser', '--internal-host', '127.0.0.1', '--port', str(port),
             '--data-dir', str(data), '--username', ADMIN[0], '--password', ADMIN[1],
             '--log-level', 'WARNING'], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        pids.append(process.pid)
        try:
            _wait_until_up(url, process, log)
            admin = _personal_access_token(url, _session(url, *ADMIN))
            annotator = _personal_access_token(url, _session(url, *ANNOTATOR, signup=True))
            yield url, admin, annotator, [process.pid]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=30)


@pytest.fixture(scope='module')
def nightly(tmp_path_factory):
    """A small published nightly of a full-labels model (tests/review_state.py): (state dir, db, records)."""
    state_dir, _, records = review_state.write(str(tmp_path_factory.mktemp('nightly')), rows=100, full_labels=True)
    return state_dir, os.path.join(state_dir, 'reviews.sqlite'), records


def _sync(state_dir, url, token, monkeypatch, project=PROJECT):
    monkeypatch.setenv(label_studio_api.TOKEN_VARIABLE, token)
    return review.run(['--state', state_dir, '--label-studio', url, '--label-studio-project', project])


def _annotate(url, token, task_id, article):
    """An annotation posted through the API, as the annotator's Label Studio page posts it."""
    client = label_studio_api.LabelStudio(url, token)
    result = [{'from_name': label_studio.CONTROL, 'to_name': label_studio.OBJECT, 'type': 'choices',
               'value': {'choices': [article]}}]
    return client.request('POST', f'/api/tasks/{task_id}/annotations/', json={'result': result})


def test_a_nightly_goes_to_label_studio_and_comes_back_as_decisions(server, nightly, monkeypatch, capsys):
    url, admin, annotator, pids = server
    state_dir, db, records = nightly
    published = review_queue.load_published_run(state_dir)
    queued = {r['id'] for r in review_queue.queue(published, {})}
    first = _sync(state_dir, url, admin, monkeypatch)
    assert first.created and (first.added, first.updated, first.unchanged) == (len(queued), 0, 0)
    assert f"Label Studio project '{PROJECT}'" in capsys.readouterr().out

    client = label_studio_api.LabelStudio(url, admin)
    project = client.request('GET', f'/api/projects/{first.project_id}/')
    assert project['model_version'] == published.model_version  # what makes Label Studio show the pre-annotations
    tasks = {t['data']['item_id']: t for t in client.tasks(first.project_id)}
    assert set(tasks) == queued
    flagged = next(r for r in records.values() if r['id'] in tasks and r['disagrees'])
    shown = client.request('GET', f'/api/tasks/{tasks[flagged["id"]]["id"]}/')
    prediction = shown['predictions'][0]
    assert prediction['model_version'] == project['model_version'] == flagged['model_version']
    assert prediction['score'] == pytest.approx(flagged['type_confidence'])
    assert prediction['result'][0]['value']['choices'] == [flagged['predicted_type']]
    assert shown['data']['image'].startswith('data:image/jpeg;base64,')

    # The second user accepts one prediction and relabels another, through the API as their page would.
    accepted, relabelled = flagged['id'], next(i for i in sorted(tasks) if i != flagged['id'])
    _annotate(url, annotator, tasks[accepted]['id'], flagged['predicted_type'])
    other_type = next(a for a in review_queue.article_choices(published.taxonomy)
                      if a not in (records[relabelled]['articleType'], records[relabelled]['predicted_type']))
    _annotate(url, annotator, tasks[relabelled]['id'], other_type)

    second = _sync(state_dir, url, admin, monkeypatch)
    assert (second.pulled.recorded, second.pulled.again, second.pulled.stale) == (2, 0, [])
    latest = reviews.latest(db)
    assert latest[accepted].decision == 'accept' and latest[accepted].decided_by == f'label-studio:{ANNOTATOR[0]}'
    assert latest[accepted].articleType == flagged['predicted_type']
    assert latest[accepted].fingerprint == records[accepted]['fingerprint']
    assert latest[relabelled].decision == 'relabel' and latest[relabelled].articleType == other_type
    assert (second.added, second.updated) == (0, 0)  # the settled items' tasks stay; nothing new to push

    third = _sync(state_dir, url, admin, monkeypatch)
    assert (third.pulled.recorded, third.pulled.again, third.added, third.updated) == (0, 2, 0, 0)
    assert len(client.tasks(first.project_id)) == len(queued) and len(reviews.history(db)) == 2

    # A task that no longer shows what the queue would (its prediction gone, its data older) is put right in place.
    task = next(t for t in client.tasks(first.project_id) if t['data']['item_id'] not in (accepted, relabelled))
    client.request('DELETE', f'/api/predictions/{task["predictions"][0]["id"]}/')
    client.update_task(task['id'], dict(task['data'], catalog_version='an older run'))
    fourth = _sync(state_dir, url, admin, monkeypatch)
    assert (fourth.added, fourth.updated, fourth.unchanged) == (0, 1, len(queued) - 3)
    restored = client.request('GET', f'/api/tasks/{task["id"]}/')
    assert restored['data'] == task['data'] and [p['model_version'] for p in restored['predictions']] == [
        published.model_version]

    # The socket watch (the `server` fixture) sees the server's own port.
    assert int(url.rsplit(':', 1)[1]) in {port for _, port, _, _ in snapshot(descendants(pids))}


def test_a_project_with_another_config_is_refused_with_the_difference(server, nightly, monkeypatch, capsys):
    url, admin, _, _ = server
    config = label_studio.label_config(['Tshirts']).replace('$given', '$seen_by')
    label_studio_api.LabelStudio(url, admin).create_project('Someone else', config, '')
    monkeypatch.setenv(label_studio_api.TOKEN_VARIABLE, admin)
    code = cli.main(['review', '--state', nightly[0], '--label-studio', url, '--label-studio-project', 'Someone else'])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and 'not ours to change' in error[0] and '$seen_by' in error[0], error


def test_a_refused_token_is_exit_2_and_an_unreachable_server_exit_75(server, nightly, monkeypatch, capsys):
    url, admin, _, _ = server
    monkeypatch.setenv(label_studio_api.TOKEN_VARIABLE, admin[:-4] + 'AAAA')
    assert cli.main(['review', '--state', nightly[0], '--label-studio', url]) == 2
    assert re.search(r'refused the token in \$FASHION_LABEL_STUDIO_TOKEN', capsys.readouterr().err)
    monkeypatch.setenv(label_studio_api.TOKEN_VARIABLE, admin)
    assert cli.main(['review', '--state', nightly[0], '--label-studio', f'http://127.0.0.1:{_free_port()}']) == 75
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and 'is unreachable' in error[0], error
