"""The review app as a team runs it: gunicorn with two workers behind a proxy's user header, on 127.0.0.1.

The load test: 4 clients post 2,000 decisions in all on 40 shared items, each knowing only what its own answers
told it (as a page does), so that many posts come from stale views. Every accepted decision must be in the
database exactly once, every stale one must get 409, and the overrides export must hold the latest accepted
decision of each item. The server runs under `timeout`, and each client's loop is bounded in count and time.
"""
import concurrent.futures
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from pipelines.rules import overrides
from pipelines.storage import overrides_file, reviews
from tests import review_state
from tests.conftest import ROOT, missing
from tests.sockets import descendants, loopback_only

GUNICORN = os.path.join(os.path.dirname(sys.executable), 'gunicorn')
CONFIG = os.path.join(ROOT, 'deploy', 'review', 'gunicorn.conf.py')
CLIENTS, DECISIONS, ITEMS = 4, 2000, 40
SERVER_LIMIT_S, CLIENT_LIMIT_S = 300, 240
PROXY_SECRET = 'x' * 40  # what the proxy sends in X-Review-Proxy-Secret


def _environment(state_dir, port, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('FASHION_REVIEW_')}
    return dict(env, FASHION_REVIEW_STATE=state_dir, FASHION_REVIEW_BIND=f'127.0.0.1:{port}', PYTHONPATH=ROOT,
                **extra)


def _free_port():
    import socket  # pylint: disable=import-outside-toplevel
    with socket.create_server(('127.0.0.1', 0)) as s:
        return s.getsockname()[1]


@pytest.fixture()
def published(tmp_path):
    if not os.access(GUNICORN, os.X_OK):
        missing(f'no gunicorn at {GUNICORN} (it is in requirements.lock: make venv)')
    state_dir, _, records = review_state.write(str(tmp_path))
    return state_dir, records


def test_several_workers_without_a_shared_secret_or_a_user_header_without_a_proxy_secret_refuse_to_start(published):
    state_dir, _ = published
    result = subprocess.run(['timeout', '60', GUNICORN, '-c', CONFIG, 'pipelines.review.wsgi:from_environment()'],
                            env=_environment(state_dir, _free_port(), FASHION_REVIEW_WORKERS='2'), cwd=ROOT,
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 1
    assert ('fashion-pipeline review: 2 workers need a shared session secret: set FASHION_REVIEW_SECRET_FILE'
            in result.stderr.splitlines()[-1])
    short = os.path.join(state_dir, 'short-secret')
    with open(short, 'w', encoding='ascii') as f:
        f.write('too short\n')
    result = subprocess.run(['timeout', '60', GUNICORN, '-c', CONFIG, 'pipelines.review.wsgi:from_environment()'],
                            env=_environment(state_dir, _free_port(), FASHION_REVIEW_SECRET_FILE=short), cwd=ROOT,
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 1 and 'has 9 bytes; use at least 32' in result.stderr.splitlines()[-1]
    result = subprocess.run(['timeout', '60', GUNICORN, '-c', CONFIG, 'pipelines.review.wsgi:from_environment()'],
                            env=_environment(state_dir, _free_port(), FASHION_REVIEW_USER_HEADER='X-Forwarded-User'),
                            cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert result.returncode == 1 and 'is believed only from the proxy: set FASHION_REVIEW_PROXY_SECRET_FILE' in (
        result.stderr.splitlines()[-1])


def test_a_bind_outside_loopback_is_said_in_one_line_before_anything_listens(published):
    """An address of no machine (TEST-NET-2), with settings refused before gunicorn binds: the line, then the
    refusal; nothing listens and no packet is sent."""
    env = dict(_environment(published[0], 0, FASHION_REVIEW_WORKERS='2'), FASHION_REVIEW_BIND='198.51.100.7:8765')
    result = subprocess.run(['timeout', '60', GUNICORN, '-c', CONFIG, 'pipelines.review.wsgi:from_environment()'],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert result.returncode == 1
    assert ('fashion-pipeline: the review app will listen on 198.51.100.7 ($FASHION_REVIEW_BIND), outside loopback'
            in result.stderr), result.stderr


def _client(base, name, items, posts, deadline):
    """Posts `posts` decisions as reviewer `name`; returns [(item, seen, status, seq)]. What it knows of each item's
    latest decision comes only from its own answers, as a page's does."""
    session = requests.Session()
    session.headers.update({'X-Forwarded-User': name, 'X-Review-Proxy-Secret': PROXY_SECRET})
    page = session.get(base + '/', timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    known = {item: 0 for item in items}
    done = []
    for n in range(posts):
        if time.time() > deadline:
            break
        item = items[(n * 7 + len(name) * 13) % len(items)]
        seen = known[item]
        decision = ('keep', 'not_sure')[n % 2]
        response = session.post(base + '/decide', json={'id': item, 'decision': decision, 'seen': seen},
                                headers={'X-CSRF-Token': token}, timeout=10)
        seq = response.json().get('seq')
        done.append((item, seen, response.status_code, seq, decision, name))
        if seq is not None:
            known[item] = seq
    return done


def test_four_clients_post_two_thousand_decisions_and_none_is_lost_or_applied_from_a_stale_view(published, tmp_path):
    state_dir, records = published
    secret = tmp_path / 'secret'
    secret.write_text('x' * 48)
    port = _free_port()
    pids = []
    with loopback_only(lambda: descendants(pids), 'gunicorn') as sockets:  # the master and its workers
        server = subprocess.Popen(['timeout', str(SERVER_LIMIT_S), GUNICORN, '-c', CONFIG,
                                   'pipelines.review.wsgi:from_environment()'],
                                  env=_environment(state_dir, port, FASHION_REVIEW_WORKERS='2',
                                                   FASHION_REVIEW_SECRET_FILE=str(secret),
                                                   FASHION_REVIEW_USER_HEADER='X-Forwarded-User',
                                                   FASHION_REVIEW_PROXY_SECRET=PROXY_SECRET),
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        pids.append(server.pid)
        base = f'http://127.0.0.1:{port}'
        probe = {'X-Forwarded-User': 'probe', 'X-Review-Proxy-Secret': PROXY_SECRET}
        try:
            for _ in range(300):
                try:
                    if requests.get(base + '/', headers=probe, timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.2)
            db = os.path.join(state_dir, 'reviews.sqlite')
            assert reviews.serving_pid(db) is not None, 'the master does not mark the database as served'
            queued = (i for i, r in records.items() if r['articleType'] and (r['disagrees'] or r['needs_review']))
            items = sorted(queued, key=int)[:ITEMS]  # queued items: the app keeps only those
            start = time.time()
            deadline = start + CLIENT_LIMIT_S
            with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
                results = list(pool.map(
                    lambda c: _client(base, f'reviewer{c}', items, DECISIONS // CLIENTS, deadline), range(CLIENTS)))
            elapsed = time.time() - start
        finally:
            server.terminate()
            _, errors = server.communicate(timeout=60)
    assert port in {p for _, p, _, _ in sockets}, 'the socket watch did not see the server'
    posts = [post for result in results for post in result]
    assert len(posts) == DECISIONS, 'a client ran out of time'
    statuses = {post[2] for post in posts}
    assert statuses <= {200, 409}, (statuses, errors[-2000:])
    accepted = {seq: (item, seen, decision, name) for item, seen, status, seq, decision, name in posts
                if status == 200}
    stale = [post for post in posts if post[2] == 409]
    assert stale and len(accepted) + len(stale) == DECISIONS
    with contextlib.closing(sqlite3.connect(db)) as connection:
        stored = [seq for seq, in connection.execute('SELECT seq FROM decisions')]
    assert sorted(stored) == sorted(accepted), 'an accepted decision is missing or stored twice'
    latest = {}
    for seq in sorted(accepted):  # each accepted decision was made on a view of the item's latest decision
        item, seen, _, _ = accepted[seq]
        assert seen == latest.get(item, 0), f'decision {seq} on {item} was made on a stale view'
        latest[item] = seq
    for item, seen, _, seq, _, _ in stale:  # each refused one was stale: a newer decision existed
        assert seq > seen
    exported = str(tmp_path / 'overrides.csv')
    overrides_file.write(exported, overrides.from_decisions(reviews.latest(db)))
    settled = {accepted[seq][0]: accepted[seq][3] for seq in latest.values() if accepted[seq][2] == 'keep'}
    assert {i: row['decided_by'] for i, row in overrides_file.read(exported).items()} == settled
    print(f'\n{DECISIONS} decisions from {CLIENTS} clients through gunicorn (2 workers, 4 threads each): '
          f'{DECISIONS / elapsed:.0f} requests/s, {len(stale)} refused as stale (409)')
    assert not os.path.exists(db + '.serving'), 'the stopped server still marks the database as served'
