"""Flagged attributes in the review app and in Label Studio, over a hand-made nightly version whose model has
attribute heads: a flagged gender is shown beside the type, accepted or kept apart from it, and leaves the queue
once decided; a decision on a view older than another reviewer's is refused."""
import json
import re

import pytest

from pipelines.jobs import review
from pipelines.review import app as review_app, label_studio, queue as review_queue
from pipelines.rules import attribute_reviews
from pipelines.storage import overrides_file, reviews
from tests import review_state


@pytest.fixture()
def setup(tmp_path):
    state_dir, _, records = review_state.write(str(tmp_path), full_labels=True, with_attributes=True)
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    app = review_app.create_app(review_queue.load_published_run(state_dir), db)
    flagged = sorted((r for r in records.values() if r['disagrees_gender']), key=lambda r: int(r['id']))
    assert len(flagged) >= 4 and not any(r['disagrees'] or r['needs_review'] for r in flagged)
    return app, state_dir, db, flagged


def _page(client):
    return client.get('/?page=1').get_data(as_text=True) + ''.join(
        client.get(f'/?page={n}').get_data(as_text=True) for n in range(2, 6))


def _decide(client, item_id, decision, seen=0, attribute='gender', reviewer='Ana'):
    page = client.get('/').get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return client.post('/decide-attribute', headers={'X-CSRF-Token': token}, json={
        'id': item_id, 'attribute': attribute, 'decision': decision, 'reviewer': reviewer, 'seen': seen})


def _shown_attributes(page, item_id):
    card = re.search(rf'<article [^>]*data-id="{item_id}".*?</article>', page, re.S)
    return re.findall(r'class="attribute" data-attribute="(\w+)"', card.group(0)) if card else None


def test_a_flagged_gender_is_shown_accepted_or_kept_and_leaves_the_queue(setup):
    app, _, db, flagged = setup
    client = app.test_client()
    page = _page(client)
    accepted, kept = flagged[0], flagged[1]
    assert _shown_attributes(page, accepted['id']) == ['gender']
    assert f'given\n        <b>{accepted["gender"]}</b>, predicted <b>{accepted["predicted_gender"]}</b>' in page

    response = _decide(client, accepted['id'], 'accept')
    assert response.status_code == 200, response.get_json()
    assert response.get_json()['value'] == accepted['predicted_gender']
    assert _decide(client, kept['id'], 'keep').get_json()['value'] == kept['gender']

    page = _page(client)
    assert _shown_attributes(page, accepted['id']) is None and _shown_attributes(page, kept['id']) is None
    assert _shown_attributes(page, flagged[2]['id']) == ['gender']
    latest = reviews.latest_attributes(db)
    decision = latest[accepted['id'], 'gender']
    assert (decision.decision, decision.value, decision.given_value) == (
        'accept', accepted['predicted_gender'], accepted['gender'])
    assert decision.fingerprint == attribute_reviews.fingerprint(
        'gender', accepted['gender'], accepted['productDisplayName'], accepted['content_hash'])
    assert reviews.latest(db) == {}  # the type was not decided


def test_a_stale_view_and_bad_requests_are_refused_with_the_reason(setup):
    app, _, db, flagged = setup
    client = app.test_client()
    item = flagged[0]['id']
    assert _decide(client, item, 'keep', reviewer='Bo').status_code == 200
    stale = _decide(client, item, 'accept', seen=0)
    assert stale.status_code == 409 and stale.get_json()['decision'] == 'keep'
    assert _decide(client, item, 'relabel').status_code == 400
    assert _decide(client, item, 'accept', attribute='season').status_code == 400  # filled in, never reviewed
    assert _decide(client, item, 'accept', reviewer='').status_code == 400
    assert len(reviews.latest_attributes(db)) == 1


def test_export_attribute_overrides_writes_the_latest_decision_per_item_and_attribute(setup, tmp_path):
    app, state_dir, _, flagged = setup
    client = app.test_client()
    _decide(client, flagged[0]['id'], 'keep')
    _decide(client, flagged[0]['id'], 'accept', seen=1)
    _decide(client, flagged[1]['id'], 'keep')
    path = str(tmp_path / 'attribute_overrides.csv')
    review.run(['--state', state_dir, '--export-attribute-overrides', path])
    rows = overrides_file.read(path, of_attributes=True)
    assert {key: row['value'] for key, row in rows.items()} == {
        (flagged[0]['id'], 'gender'): flagged[0]['predicted_gender'],
        (flagged[1]['id'], 'gender'): flagged[1]['gender']}


def test_label_studio_asks_the_flagged_attribute_and_reads_it_back_as_its_own_decision(setup, tmp_path, capsys):
    _, state_dir, db, flagged = setup
    tasks_path = str(tmp_path / 'tasks.json')
    tasks = review.run(['--state', state_dir, '--export-label-studio', tasks_path])
    with open(tasks_path + '.label_config.xml', encoding='utf-8') as f:
        config = f.read()
    assert '<Choices name="gender" toName="image"' in config and '<Choice value="Women"/>' in config
    assert '<Choices name="season"' not in config  # filled in, never reviewed
    by_id = {t['data']['item_id']: t for t in tasks}
    task = by_id[flagged[0]['id']]
    assert task['data']['given_gender'] == flagged[0]['gender']
    assert {'from_name': 'gender', 'to_name': 'image', 'type': 'choices',
            'value': {'choices': [flagged[0]['predicted_gender']]}} in task['predictions'][0]['result']
    annotated = []
    for n, (item, value) in enumerate(((flagged[0], flagged[0]['predicted_gender']), (flagged[1], flagged[1]['gender']),
                                        (flagged[2], 'Unisex'))):
        result = [{'from_name': 'gender', 'to_name': 'image', 'type': 'choices', 'value': {'choices': [value]}}]
        annotated.append(dict(by_id[item['id']], id=200 + n, annotations=[{
            'id': n, 'result': result, 'was_cancelled': False, 'completed_by': 7,
            'created_at': '2026-12-08T10:00:00Z'}]))
    export_path = tmp_path / 'export.json'
    export_path.write_text(json.dumps(annotated), encoding='utf-8')
    review.run(['--state', state_dir, '--import-label-studio', str(export_path)])
    assert 'imported 2 decisions' in capsys.readouterr().out.splitlines()[-1]
    latest = reviews.latest_attributes(db)
    assert latest[flagged[0]['id'], 'gender'].decision == 'accept'
    assert latest[flagged[1]['id'], 'gender'].decision == 'keep'
    assert (flagged[2]['id'], 'gender') not in latest  # neither the given nor the predicted value
    assert reviews.latest(db) == {}  # choosing only the gender decides nothing of the type
    published = review_queue.load_published_run(state_dir)
    problems = label_studio.decisions_from_export(annotated, published,
                                                  review_queue.article_choices(published.taxonomy))[1]
    assert len(problems) == 1 and 'neither the given' in problems[0]
