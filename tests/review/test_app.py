"""The review app under Flask's test client, over a hand-made nightly version."""
import csv
import dataclasses
import glob
import json
import os
import re
import shutil
import sqlite3
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.jobs import review
from pipelines.review import app as review_app, label_studio, queue as review_queue
from pipelines.rules import decisions, taxonomy as taxonomy_lib
from pipelines.storage import reviews, state
from tests import review_state
from tests.sockets import descendants, loopback_only, snapshot


@pytest.fixture()
def setup(tmp_path):
    state_dir, catalog_dir, records = review_state.write(str(tmp_path))
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    app = review_app.create_app(review_queue.load_published_run(state_dir), db)
    return app, state_dir, db, records


def _token(client):
    page = client.get('/').get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def _decide(client, token, item_id, decision, article=None, reviewer='Ana', seen=None):
    """POST /decide as the page does; `seen` defaults to the item's latest decision number (an up-to-date page)."""
    if seen is None:
        seen = reviews.latest_seq(client.application.config['REVIEW_DB']).get(item_id, 0)
    return client.post('/decide', json={'id': item_id, 'decision': decision, 'articleType': article,
                                        'reviewer': reviewer, 'seen': seen}, headers={'X-CSRF-Token': token})


def _card_ids(page):
    return re.findall(r'<article class="card[^"]*" data-id="(\d+)"', page)


def test_queue_holds_flags_most_suspicious_first_then_unsure_labels_least_confident_first(setup):
    app, _, _, records = setup
    ids = _card_ids(app.test_client().get('/?page=1').get_data(as_text=True))
    flagged = sorted((r for r in records.values() if r['disagrees']),
                     key=lambda r: (r['given_class_probability'], int(r['id'])))
    unsure = sorted((r for r in records.values() if r['needs_review'] and not r['disagrees']),
                    key=lambda r: (r['confidence'], int(r['id'])))
    expected = [r['id'] for r in flagged + unsure]
    assert ids == expected[:review_queue.PAGE_SIZE] and len(expected) > 10
    assert not set(ids) & {i for i, r in records.items() if not r['disagrees'] and not r['needs_review']}


def test_filters_by_given_and_predicted_class_and_pages(setup):
    app, _, _, records = setup
    client = app.test_client()
    some = next(r for r in records.values() if r['disagrees'])
    page = client.get(f'/?given={some["given_class"]}').get_data(as_text=True)
    assert set(_card_ids(page)) == {i for i, r in records.items()
                                    if r['given_class'] == some['given_class'] and r['disagrees']}
    page = client.get(f'/?predicted={some["predicted_class"]}').get_data(as_text=True)
    assert some['id'] in _card_ids(page)
    assert all(records[i]['predicted_class'] == some['predicted_class'] for i in _card_ids(page))
    items = review_queue.queue(review_queue.load_published_run(setup[1]), {})
    second, pages = review_queue.page(items, 2, size=5)
    assert second == items[5:10] and pages == -(-len(items) // 5)


def test_decisions_are_stored_superseded_and_settled_items_leave_the_queue(setup):
    app, _, db, records = setup
    client = app.test_client()
    token = _token(client)
    flagged = min((r for r in records.values() if r['disagrees']), key=lambda r: r['given_class_probability'])
    choices = review_queue.article_choices(review_queue.load_published_run(setup[1]).taxonomy)
    article = next(a for a, (_, _, c) in choices.items() if c == flagged['predicted_class'])
    assert _decide(client, token, flagged['id'], 'not_sure').status_code == 200
    assert flagged['id'] in _card_ids(client.get('/').get_data(as_text=True))  # not sure: still to review
    assert _decide(client, token, flagged['id'], 'accept', article).status_code == 200
    response = _decide(client, token, flagged['id'], 'relabel', 'Watches', reviewer='Bo')
    assert response.status_code == 200 and response.get_json()['articleType'] == 'Watches'
    latest = reviews.latest(db)[flagged['id']]
    assert (latest.decision, latest.articleType, latest.decided_by) == ('relabel', 'Watches', 'Bo')
    assert latest.fingerprint == flagged['fingerprint'] and latest.model_version == flagged['model_version']
    assert latest.catalog_version == review_state.RUN_ID
    assert [d.decision for d in reviews.history(db)] == ['relabel', 'accept', 'not_sure']
    page = client.get('/').get_data(as_text=True)
    assert flagged['id'] not in _card_ids(page) and 'data-decision="relabel"' in page


def test_a_decision_made_on_a_stale_view_is_refused_with_the_newer_one(setup):
    """Ana and Bo load the page; Bo decides first; Ana's decision from her older view gets 409 and Bo's
    decision, and stays unwritten until she decides again on what she now sees."""
    app, _, db, records = setup
    ana, bo = app.test_client(), app.test_client()
    ana_token, bo_token = _token(ana), _token(bo)
    item = min((r for r in records.values() if r['disagrees']), key=lambda r: r['given_class_probability'])
    assert f'data-id="{item["id"]}" data-seq="0"' in ana.get('/').get_data(as_text=True)
    first = _decide(bo, bo_token, item['id'], 'keep', reviewer='Bo', seen=0)
    assert first.status_code == 200
    stale = _decide(ana, ana_token, item['id'], 'not_sure', seen=0)
    assert stale.status_code == 409
    assert (stale.get_json()['decided_by'], stale.get_json()['decision']) == ('Bo', 'keep')
    assert [d.decided_by for d in reviews.history(db)] == ['Bo']
    again = _decide(ana, ana_token, item['id'], 'not_sure', seen=stale.get_json()['seq'])
    assert again.status_code == 200 and again.get_json()['seq'] > first.get_json()['seq']
    assert reviews.latest(db)[item['id']].decided_by == 'Ana'
    missing = ana.post('/decide', json={'id': item['id'], 'decision': 'keep', 'reviewer': 'Ana'},
                       headers={'X-CSRF-Token': ana_token})
    assert missing.status_code == 400 and 'seen' in missing.get_json()['error']


def test_a_newer_published_version_is_served_without_a_restart(setup):
    _, state_dir, db, records = setup
    app = review_app.create_app(review_queue.LatestRun(state_dir), db)
    client = app.test_client()
    settled = min((r for r in records.values() if r['disagrees']), key=lambda r: r['given_class_probability'])
    page = client.get('/').get_data(as_text=True)
    assert review_state.RUN_ID in page and settled['id'] in _card_ids(page)
    newer = '20261130T000000Z-test'
    old_dir, new_dir = state.run_path(state_dir, review_state.RUN_ID), state.run_path(state_dir, newer)
    shutil.copytree(old_dir, new_dir)
    catalog_file = glob.glob(os.path.join(new_dir, 'catalog-*.parquet'))[0]
    table = pq.read_table(catalog_file).to_pylist()
    for record in table:
        if record['id'] == settled['id']:
            record['disagrees'] = False  # the newer model no longer flags it
    pq.write_table(pa.Table.from_pylist(table, pq.read_schema(catalog_file)), catalog_file)
    state.set_current(state_dir, newer)
    page = client.get('/').get_data(as_text=True)
    assert f'run {newer}' in page and settled['id'] not in _card_ids(page)
    token = _token(client)
    assert _decide(client, token, _card_ids(page)[0], 'not_sure').get_json()['id'] == _card_ids(page)[0]
    assert reviews.history(db)[0].catalog_version == newer


def test_the_real_catalogs_cases_preselect_from_evidence_or_nothing():
    """The issue's two cases: accepting "Ferrari Men Perfume" (Fragrance) wrote Deodorant, the class's first type;
    accepting a tunic as "Loungewear and Nightwear" wrote Baby Dolls."""
    taxonomy = taxonomy_lib.load()
    chooser = review_queue.TypeChooser(taxonomy, review_queue.article_choices(taxonomy))
    perfume = {'predicted_class': 'Fragrance', 'productDisplayName': 'Ferrari Men Perfume', 'articleType': 'Tshirts'}
    assert chooser.preselect(perfume) == ('Perfume and Body Mist', decisions.NAME_MATCH)
    tunic = {'predicted_class': 'Loungewear and Nightwear', 'articleType': 'Tunics',
             'productDisplayName': 'W Women Green Printed Tunic'}
    assert chooser.preselect(tunic) == (None, None)


def _card_html(page, item_id):
    return re.search(rf'<article[^>]*data-id="{item_id}".*?</article>', page, re.DOTALL).group(0)


def test_accept_writes_only_a_type_someone_or_some_evidence_chose_and_overrides_say_which(setup, tmp_path):
    app, state_dir, db, records = setup
    client = app.test_client()
    token = _token(client)
    published = review_queue.load_published_run(state_dir)
    chooser = review_queue.TypeChooser(published.taxonomy, review_queue.article_choices(published.taxonomy))
    queued = review_queue.queue(published, {})
    blind = next(r for r in queued if chooser.preselect(r) == (None, None))
    given = next(r for r in queued if chooser.preselect(r)[1] == decisions.GIVEN_TYPE)
    page = client.get(f'/?given={blind["given_class"]}&predicted={blind["predicted_class"]}').get_data(as_text=True)
    assert '<option value="" selected>choose the type' in _card_html(page, blind['id'])
    refused = _decide(client, token, blind['id'], 'accept', None)
    assert refused.status_code == 400 and 'choose the articleType' in refused.get_json()['error']
    picked = chooser.types[blind['predicted_class']][-1]
    assert _decide(client, token, blind['id'], 'accept', picked).status_code == 200
    assert _decide(client, token, given['id'], 'accept', given['articleType']).status_code == 200
    latest = reviews.latest(db)
    assert latest[blind['id']].article_chosen_by == decisions.REVIEWER
    assert latest[given['id']].article_chosen_by == decisions.GIVEN_TYPE
    exported = str(tmp_path / 'overrides.csv')
    review.run(['--state', state_dir, '--export-overrides', exported])
    with open(exported, encoding='utf-8') as f:
        chosen = {row['id']: row['article_chosen_by'] for row in csv.DictReader(f)}
    assert chosen == {blind['id']: decisions.REVIEWER, given['id']: decisions.GIVEN_TYPE}


def test_a_database_from_before_the_article_chosen_by_column_gets_it(tmp_path):
    path = str(tmp_path / 'old.sqlite')
    with sqlite3.connect(path) as connection:
        connection.executescript(OLD_SCHEMA)
        connection.execute("INSERT INTO decisions (id, decision, masterCategory, subCategory, articleType, "
                           "given_class, predicted_class, flagged, decided_by, decided_at, model_version, "
                           "catalog_version, fingerprint) VALUES ('7', 'keep', 'A', 'B', 'C', 'X', 'Y', 1, 'Ana', "
                           "'2026-11-30T00:00:00+00:00', '1', 'run', 'f')")
    connection.close()
    assert reviews.latest(path)['7'].article_chosen_by == ''
    old = reviews.latest(path)['7']
    reviews.record(path, dataclasses.replace(old, decision='accept', article_chosen_by=decisions.REVIEWER))
    assert reviews.latest(path)['7'].article_chosen_by == decisions.REVIEWER


OLD_SCHEMA = """CREATE TABLE decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, decision TEXT NOT NULL,
    masterCategory TEXT, subCategory TEXT, articleType TEXT, given_class TEXT, predicted_class TEXT,
    flagged INTEGER NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL, model_version TEXT NOT NULL,
    catalog_version TEXT NOT NULL, fingerprint TEXT NOT NULL);"""


def test_bad_decisions_are_refused_with_the_reason(setup):
    app, _, _, records = setup
    client = app.test_client()
    token = _token(client)
    flagged = next(r for r in records.values() if r['disagrees'])
    unlabelled = next(r for r in records.values() if not r['articleType'])
    outside = next(a for a, (_, _, c) in review_queue.article_choices(
        review_queue.load_published_run(setup[1]).taxonomy).items() if c != flagged['predicted_class'])
    assert 'not in the predicted class' in _decide(client, token, flagged['id'], 'accept', outside).get_json()['error']
    assert 'no given labels' in _decide(client, token, unlabelled['id'], 'keep').get_json()['error']
    assert 'reviewer' in _decide(client, token, flagged['id'], 'keep', reviewer=' ').get_json()['error']
    assert _decide(client, token, flagged['id'], 'relabel', 'Spaceships').status_code == 400
    assert _decide(client, token, flagged['id'], 'delete').status_code == 400


def test_a_post_without_the_csrf_token_changes_nothing(setup):
    app, _, db, records = setup
    client = app.test_client()
    _token(client)
    item = next(iter(records))
    assert _decide(client, '', item, 'not_sure').status_code == 403
    assert _decide(client, 'forged', item, 'not_sure').status_code == 403
    other = app.test_client()  # a token from another session is refused too
    assert _decide(client, _token(other), item, 'not_sure').status_code == 403
    assert client.get('/decide').status_code == 405
    assert reviews.history(db) == []


def test_paths_never_reach_the_filesystem(setup):
    app, _, _, records = setup
    client = app.test_client()
    token = _token(client)
    for path in ('/image/..%2F..%2Fetc%2Fpasswd', '/image/../../etc/passwd', '/image/12a', '/image/999999999'):
        assert client.get(path).status_code == 404, path
    assert _decide(client, token, '../../etc/passwd', 'not_sure').status_code == 400
    item = next(iter(records))
    response = client.get(f'/image/{item}')
    assert response.status_code == 200 and response.mimetype == 'image/jpeg'
    assert "default-src 'none'" in response.headers['Content-Security-Policy']


def test_two_writers_at_once_lose_nothing(setup):
    _, _, db, records = setup
    published = review_queue.load_published_run(setup[1])
    choices = review_queue.article_choices(published.taxonomy)
    chooser = review_queue.TypeChooser(published.taxonomy, choices)
    ids = sorted(i for i, r in records.items() if r['disagrees'] or r['needs_review'])[:25]

    def write(name):
        for item_id in ids:
            reviews.record(db, review_queue.decision_for(published, choices, chooser, item_id, 'not_sure', None, name))

    writers = [threading.Thread(target=write, args=(name,)) for name in ('Ana', 'Bo')]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    history = reviews.history(db)
    assert len(history) == 50 and {d.decided_by for d in history} == {'Ana', 'Bo'}


def test_export_overrides_writes_the_latest_settling_decision_per_id(setup, tmp_path):
    app, state_dir, db, records = setup
    client = app.test_client()
    token = _token(client)
    flagged = [r for r in records.values() if r['disagrees']][:3]
    _decide(client, token, flagged[0]['id'], 'keep')
    _decide(client, token, flagged[1]['id'], 'relabel', 'Watches')
    _decide(client, token, flagged[1]['id'], 'keep')
    _decide(client, token, flagged[2]['id'], 'not_sure')
    path = str(tmp_path / 'label_overrides.csv')
    review.run(['--state', state_dir, '--export-overrides', path])
    with open(path, encoding='utf-8', newline='') as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == ('id', 'masterCategory', 'subCategory', 'articleType', 'decision', 'decided_by',
                              'decided_at', 'fingerprint', 'article_chosen_by')
    assert {r['id']: r['decision'] for r in rows} == {flagged[0]['id']: 'keep', flagged[1]['id']: 'keep'}
    assert all(r['fingerprint'] == records[r['id']]['fingerprint'] and r['decided_by'] == 'Ana' for r in rows)


def test_label_studio_tasks_and_an_export_of_them_round_trip(setup, tmp_path, capsys):
    _, state_dir, db, records = setup
    tasks_path = str(tmp_path / 'tasks.json')
    tasks = review.run(['--state', state_dir, '--export-label-studio', tasks_path])
    with open(tasks_path, encoding='utf-8') as f:
        assert json.load(f) == tasks
    with open(tasks_path + '.label_config.xml', encoding='utf-8') as f:
        config = f.read()
    assert '<Choices name="articleType" toName="image"' in config and '<Choice value="Watches"/>' in config
    first = tasks[0]
    assert first['data']['image'].startswith('data:image/jpeg;base64,')
    result = first['predictions'][0]['result'][0]
    assert (result['from_name'], result['to_name'], result['type']) == ('articleType', 'image', 'choices')
    # A Label Studio JSON export of three of these tasks (https://labelstud.io/guide/task_format): one
    # annotated with the pre-annotation, one relabelled then re-annotated, one skipped; one left undone.
    exported = []
    for n, task in enumerate(tasks[:4]):
        done = dict(task, id=100 + n, annotations=[])
        if n == 0:
            done['annotations'] = [{'id': 1, 'result': task['predictions'][0]['result'], 'was_cancelled': False,
                                    'completed_by': 7, 'created_at': '2026-11-29T10:00:00Z',
                                    'updated_at': '2026-11-29T10:00:00Z'}]
        elif n == 1:
            done['annotations'] = [
                {'id': 3, 'result': [dict(result, value={'choices': ['Watches']})], 'was_cancelled': False,
                 'completed_by': {'email': 'bo@example.com'}, 'created_at': '2026-11-29T11:00:00Z'},
                {'id': 2, 'result': [dict(result, value={'choices': ['Tshirts']})], 'was_cancelled': False,
                 'completed_by': {'email': 'bo@example.com'}, 'created_at': '2026-11-29T09:00:00Z'}]
        elif n == 2:
            done['annotations'] = [{'id': 4, 'result': [], 'was_cancelled': True, 'completed_by': 7,
                                    'created_at': '2026-11-29T12:00:00Z'}]
        exported.append(done)
    export_path = tmp_path / 'export.json'
    export_path.write_text(json.dumps(exported), encoding='utf-8')
    taken = review.run(['--state', state_dir, '--import-label-studio', str(export_path)])
    assert '0 tasks skipped, 0 stale, 0 imported before, 1 not annotated yet' in capsys.readouterr().out
    by_id = {d.id: d for d in taken}
    assert len(taken) == 3
    accepted = by_id[first['data']['item_id']]
    assert accepted.decision == 'accept' and accepted.decided_by == 'label-studio:7'
    assert accepted.fingerprint == records[accepted.id]['fingerprint']
    relabelled = by_id[tasks[1]['data']['item_id']]
    assert (relabelled.articleType, relabelled.decided_by) == ('Watches', 'label-studio:bo@example.com')
    assert by_id[tasks[2]['data']['item_id']].decision == 'not_sure'
    assert {d.id for d in reviews.history(db)} == set(by_id)
    published = review_queue.load_published_run(state_dir)
    assert label_studio.decisions_from_export(label_studio.read_export(str(export_path)), published,
                                              review_queue.article_choices(published.taxonomy))[1:] == ([], 1)
    assert all(task['data']['seen'] == 0 for task in tasks)  # nothing was decided when they were made
    review.run(['--state', state_dir, '--import-label-studio', str(export_path)])
    assert 'imported 0 decisions' in capsys.readouterr().out and len(reviews.history(db)) == 3  # the same, again
    stale = dict(exported[0], annotations=[dict(exported[0]['annotations'][0], updated_at='2026-11-30T10:00:00Z')])
    export_path.write_text(json.dumps([stale]), encoding='utf-8')
    review.run(['--state', state_dir, '--import-label-studio', str(export_path)])
    out, err = capsys.readouterr()
    assert '1 stale' in out and 'a view older than its latest decision' in err and len(reviews.history(db)) == 3


def test_the_command_serves_quietly_on_localhost_and_stops_on_ctrl_c(setup):
    import signal  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    import urllib.request  # pylint: disable=import-outside-toplevel
    state_dir = setup[1]
    command = [os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline'), 'review', '--state', state_dir,
               '--port', '0']
    pids = []
    with loopback_only(lambda: descendants(pids), 'the review app'):
        # Ctrl-C as in a terminal: a test run in the background inherits SIGINT ignored, and so would the server.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        pids.append(process.pid)
        try:
            first = process.stdout.readline()
            url = re.search(r'at (http://127\.0\.0\.1:\d+/)', first).group(1)
            with urllib.request.urlopen(url, timeout=30) as response:
                assert response.status == 200 and 'Review queue' in response.read().decode()
            assert int(url.split(':')[-1].rstrip('/')) in {port for _, port, _, _ in snapshot(descendants(pids))}
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0 and out.strip() == 'stopped' and err == ''


def test_a_port_in_use_is_one_line_and_exit_2(setup, capsys):
    import socket  # pylint: disable=import-outside-toplevel
    from pipelines import cli  # pylint: disable=import-outside-toplevel
    with socket.create_server(('127.0.0.1', 0)) as taken:
        code = cli.main(['review', '--state', setup[1], '--port', str(taken.getsockname()[1])])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and 'cannot listen on 127.0.0.1' in error[0]


def test_a_user_header_without_the_proxy_secret_in_the_environment_is_one_line_and_exit_2(setup, capsys,
                                                                                        monkeypatch):
    from pipelines import cli  # pylint: disable=import-outside-toplevel
    for name in ('FASHION_REVIEW_PROXY_SECRET', 'FASHION_REVIEW_PROXY_SECRET_FILE'):
        monkeypatch.delenv(name, raising=False)
    code = cli.main(['review', '--state', setup[1], '--port', '0', '--user-header', 'X-Forwarded-User'])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and 'set FASHION_REVIEW_PROXY_SECRET_FILE' in error[0], error


def test_label_studio_tasks_can_name_image_paths_instead_of_embedding_them(setup):
    published = review_queue.load_published_run(setup[1])
    items = review_queue.queue(published, {})[:2]
    chooser = review_queue.TypeChooser(published.taxonomy, review_queue.article_choices(published.taxonomy))
    tasks = label_studio.tasks(published, items, [review_queue.card(r, chooser, {}) for r in items], {},
                               image_paths=True)
    assert [t['data']['image'] for t in tasks] == [
        os.path.join(published.catalog_dir, 'images', f'{r["id"]}.jpg') for r in items]


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(setup):
    app, _, _, _ = setup
    client = app.test_client()
    _token(client)
    response = client.post('/decide', json={'id': '1', 'decision': 'keep'}, headers={'X-CSRF-Token': 'tökén'})
    assert response.status_code == 403


def test_the_pager_links_encode_the_class_filters(setup):
    app, _, _, _ = setup
    page = app.test_client().get('/?page=3&given=Bags+%26+Co&predicted=A%3DB').get_data(as_text=True)
    assert 'given=Bags+%26+Co' in page and 'predicted=A%3DB' in page and 'given=Bags & Co' not in page


def test_only_the_hosts_it_serves_are_answered(setup):
    _, state_dir, db, _ = setup
    published = review_queue.load_published_run(state_dir)
    app = review_app.create_app(published, db, trusted_hosts=[*review_app.LOCAL_HOSTS, 'review.team.example'],
                                port=8765)
    client = app.test_client()
    for host, status in (('127.0.0.1:8765', 200), ('localhost:8765', 200), ('review.team.example', 200),
                         ('evil.example:8765', 400), ('rebound.evil.example', 400), ('localhost:9999', 400)):
        assert client.get('/', headers={'Host': host}).status_code == status, host


PROXY_SECRET = b'p' * 32
FROM_PROXY = {review_app.PROXY_SECRET_HEADER: PROXY_SECRET.decode()}


def test_behind_a_proxy_the_reviewer_is_the_header_s_user_never_a_typed_name(setup):
    _, state_dir, db, records = setup
    app = review_app.create_app(review_queue.load_published_run(state_dir), db, user_header='X-Forwarded-User',
                                proxy_secret=PROXY_SECRET)
    client = app.test_client()
    assert client.get('/', headers=FROM_PROXY).status_code == 401
    page = client.get('/', headers={'X-Forwarded-User': 'ana@example.com', **FROM_PROXY}).get_data(as_text=True)
    assert 'ana@example.com</b> (signed in)' in page and 'placeholder="your name"' not in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    item = next(i for i, r in records.items() if r['disagrees'])
    body = {'id': item, 'decision': 'keep', 'reviewer': 'mallory', 'seen': 0}
    missing = client.post('/decide', json=body, headers={'X-CSRF-Token': token, **FROM_PROXY})
    assert missing.status_code == 401 and not reviews.history(db)
    sent = client.post('/decide', json=body, headers={'X-CSRF-Token': token, 'X-Forwarded-User': 'ana@example.com',
                                                      **FROM_PROXY})
    assert sent.status_code == 200 and sent.get_json()['decided_by'] == 'ana@example.com'
    assert [d.decided_by for d in reviews.history(db)] == ['ana@example.com']


@pytest.mark.parametrize('secret', [None, '', 'p' * 31, 'q' * 32, 'p' * 33])
def test_a_direct_request_with_a_forged_user_header_gets_401(setup, secret):
    """Any local process can reach the port and fetch its own CSRF token: without the proxy's secret, the user
    header it sends is not believed, neither to read the queue nor to decide."""
    _, state_dir, db, records = setup
    app = review_app.create_app(review_queue.load_published_run(state_dir), db, user_header='X-Forwarded-User',
                                proxy_secret=PROXY_SECRET)
    client = app.test_client()
    forged = {'X-Forwarded-User': 'boss@example.com'}
    if secret is not None:
        forged[review_app.PROXY_SECRET_HEADER] = secret
    page = client.get('/', headers=forged)
    assert page.status_code == 401 and 'not from the proxy' in page.get_json()['error']
    page = client.get('/', headers={'X-Forwarded-User': 'ana@example.com', **FROM_PROXY}).get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # a valid token does not help
    item = next(i for i, r in records.items() if r['disagrees'])
    posted = client.post('/decide', json={'id': item, 'decision': 'keep', 'seen': 0},
                         headers={'X-CSRF-Token': token, **forged})
    assert posted.status_code == 401 and not reviews.history(db)


def test_a_user_header_without_a_proxy_secret_is_refused(setup):
    _, state_dir, db, _ = setup
    with pytest.raises(ValueError, match='needs the proxy secret'):
        review_app.create_app(review_queue.load_published_run(state_dir), db, user_header='X-Forwarded-User')


def test_processes_that_share_the_secret_accept_each_other_s_csrf_tokens(setup):
    _, state_dir, db, records = setup
    published = review_queue.load_published_run(state_dir)
    item = next(i for i, r in records.items() if r['disagrees'])

    def second_worker_answers(first, second):
        client = first.test_client()
        token = _token(client)
        cookie = client.get_cookie('session')
        other = second.test_client()
        other.set_cookie('session', cookie.value)
        return _decide(other, token, item, 'not_sure').status_code

    secret = b's' * 32
    shared = [review_app.create_app(published, db, secret_key=secret) for _ in range(2)]
    assert second_worker_answers(*shared) == 200
    own = [review_app.create_app(published, db) for _ in range(2)]
    assert second_worker_answers(*own) == 403


def test_each_reviewer_gets_their_slice_first_and_a_shared_item_reaches_both_then_their_agreement(setup):
    from pipelines.rules import slices  # pylint: disable=import-outside-toplevel
    app, _, db, records = setup
    client = app.test_client()
    token = _token(client)
    queued = _card_ids(client.get('/').get_data(as_text=True))
    first = queued[0]
    for name in ('ana', 'bo'):  # a decision puts a reviewer in the team
        assert _decide(client, token, first, 'not_sure', reviewer=name).status_code == 200
    team = ['ana', 'bo']

    def queue_of(name):
        client.set_cookie('reviewer', name)
        page = client.get('/').get_data(as_text=True)
        return _card_ids(page), page

    ana, page = queue_of('ana')
    everything = review_queue.queue(review_queue.load_published_run(os.path.dirname(db)), reviews.latest(db))
    expected = [r['id'] for r in slices.own_first(everything, 'ana', team)]
    assert ana == expected[:review_queue.PAGE_SIZE] and 'Your slice first, ana' in page
    bo, _ = queue_of('bo')
    mine = [i for i in bo if 'bo' in slices.owners(i, team)]
    assert bo[:len(mine)] == mine and bo != ana
    shared = next(r['id'] for r in everything if slices.is_shared(r['id']))
    assert _decide(client, token, shared, 'keep', reviewer='ana').status_code == 200

    def whole_queue(name):
        decided = {d.id for d in reviews.history(db) if d.decided_by == name}
        return [r['id'] for r in review_queue.queue(review_queue.load_published_run(os.path.dirname(db)),
                                                     reviews.latest(db), reviewer=name, team=team, decided=decided)]

    assert shared not in whole_queue('ana')
    assert shared in whole_queue('bo'), 'the second owner of a shared item does not see it'
    assert _decide(client, token, shared, 'relabel', article='Dresses', reviewer='bo').status_code == 200
    _, page = queue_of('bo')
    assert '1 items settled by more than one reviewer (1 pairs of decisions)' in page
    assert 'agree on whether the given label was right in 0% of pairs' in page


def test_label_studio_pre_annotates_only_the_type_accept_would_preselect_or_nothing(setup, tmp_path):
    _, state_dir, db, _ = setup
    tasks = review.run(['--state', state_dir, '--export-label-studio', str(tmp_path / 'tasks.json')])
    published = review_queue.load_published_run(state_dir)
    chooser = review_queue.TypeChooser(published.taxonomy, review_queue.article_choices(published.taxonomy))
    seen = set()
    for task in tasks:
        record = published.records[task['data']['item_id']]
        preselected, _ = chooser.preselect(record)
        results = [r for p in task['predictions'] for r in p['result']]
        assert [r['value']['choices'] for r in results] == ([[preselected]] if preselected else [])
        seen.add(preselected is not None)
    assert seen == {True, False}, 'the queue should hold items with and without evidence for a type'
