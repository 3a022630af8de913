"""The review loop end to end on a synthetic catalog: nightly -> decisions in the app -> overrides -> prepare,
then the next nightly, then an image that changes under a decision."""
import io
import json
import os
import re
import shutil

import pytest
from PIL import Image

from pipelines import artifacts
from pipelines.jobs import nightly, prepare, review, synth
from pipelines.review import app as review_app, queue as review_queue
from pipelines.rules import changes, overrides
from pipelines.storage import overrides_file, reviews
from tests.catalog_files import read_catalog
from tests.conftest import read_examples
from tests.nightly_days import published

pytestmark = pytest.mark.slow  # trains and runs the whole loop

ROWS = 150


def _flag_every_disagreement(trained_export, folder):
    """A copy of the trained model whose flag threshold lets every confident-enough disagreement through,
    so that the swapped labels below are flagged whatever the short-trained model's calibration."""
    model_dir = os.path.dirname(os.path.dirname(trained_export))
    shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns('backup', 'logs', 'checkpoints'))
    export = os.path.join(folder, artifacts.EXPORT, os.path.basename(trained_export))
    path = os.path.join(export, artifacts.ASSETS_EXTRA, artifacts.CALIBRATION)
    with open(path, encoding='utf-8') as f:
        calibration = json.load(f)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(dict(calibration, flag_max_given_probability=1.0), f)
    return export


def _reencoded(jpeg):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format='JPEG', quality=60)
    return buffer.getvalue()


def _nightly(catalog_dir, model, state_dir):
    return nightly.run(['--catalog', catalog_dir, '--model', model, '--state', state_dir,
                        '--disagree-min-confidence', '0'])


@pytest.fixture(scope='module')
def loop(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp('loop')
    styles, jpegs = read_catalog(trained[0])
    styles = [r for r in styles if r['id'] in jpegs][:ROWS]
    for row in [r for r in styles if r['articleType'] == 'Watches'][:6]:  # watches labelled as T-shirts
        row.update(masterCategory='Apparel', subCategory='Topwear', articleType='Tshirts')
    unlabelled = next(r for r in styles if r['articleType'] not in ('Watches', 'Tshirts'))
    unlabelled.update(articleType='')
    catalog_dir = str(root / 'catalog')
    synth.write_catalog(catalog_dir, styles, jpegs)
    model = _flag_every_disagreement(trained[4], str(root / 'model'))
    state_dir = str(root / 'state')
    _nightly(catalog_dir, model, state_dir)
    before = published(state_dir)
    flagged = sorted((r for r in before.values() if r['disagrees']), key=lambda r: r['given_class_probability'])
    assert len(flagged) >= 3, 'six swapped labels, yet fewer than three flags'
    accept, relabel, keep = flagged[:3]
    choices = review_queue.article_choices(review_queue.load_published_run(state_dir).taxonomy)
    accept_article = next(a for a, (_, _, c) in choices.items() if c == accept['predicted_class'])
    relabel_article = next(a for a, (_, _, c) in choices.items() if c not in (relabel['given_class'], 'Wallets'))
    decided = [(accept['id'], 'accept', accept_article), (relabel['id'], 'relabel', relabel_article),
               (keep['id'], 'keep', None), (unlabelled['id'], 'relabel', 'Jeans')]
    return {'root': root, 'catalog': catalog_dir, 'styles': styles, 'jpegs': jpegs, 'model': model,
            'state': state_dir, 'before': before, 'decided': decided,
            'classes': {accept['id']: choices[accept_article][2], relabel['id']: choices[relabel_article][2],
                        keep['id']: keep['given_class'], unlabelled['id']: 'Bottomwear'}}


def _decide_in_the_app(state_dir, items):
    """Posts (id, decision, articleType) decisions through the app, as the page does; returns the page."""
    app = review_app.create_app(review_queue.load_published_run(state_dir), os.path.join(state_dir, artifacts.REVIEWS))
    client = app.test_client()
    page = client.get('/').get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    shown = dict(re.findall(r'data-id="(\d+)" data-seq="(\d+)"', page))
    for item_id, decision, article in items:
        response = client.post('/decide', headers={'X-CSRF-Token': token}, json={
            'id': item_id, 'decision': decision, 'articleType': article, 'reviewer': 'Ana',
            'seen': int(shown.get(item_id, 0))})
        assert response.status_code == 200, response.get_json()
    return page


def test_decisions_flow_into_training_and_the_next_night(loop, tmp_path):
    before = loop['before']
    page = _decide_in_the_app(loop['state'], loop['decided'])
    assert all(f'data-id="{item_id}"' in page for item_id, _, _ in loop['decided'][:3])
    path = str(tmp_path / 'label_overrides.csv')
    review.run(['--state', loop['state'], '--export-overrides', path])
    assert len(overrides_file.read(path)) == 4

    prepared = str(tmp_path / 'prepared')
    manifest = prepare.run(['--catalog', loop['catalog'], '--output', prepared, '--overrides', path])
    assert (manifest['overrides']['applied'], manifest['overrides']['stale'], manifest['overrides']['ignored']) == (
        4, 0, 0)
    assert manifest['rows_read'] == manifest['rows_kept'] + manifest['rows_quarantined']
    examples = read_examples(prepared)
    for item_id, class_name in loop['classes'].items():  # the unlabelled item (Jeans) now trains too
        assert examples[item_id][0] == class_name, item_id

    second = _nightly(loop['catalog'], loop['model'], loop['state'])
    after = published(loop['state'])
    assert second['scored'] == 0  # nothing changed: the decisions are applied to the carried records
    for item_id, class_name in loop['classes'].items():
        record = after[item_id]
        assert not record['disagrees'] and not record['needs_review']
        assert (record['reviewed_class'], record['reviewed_by']) == (class_name, 'Ana')
        assert record['articleType'] == before[item_id]['articleType']  # the catalog's own column is untouched
    decided = set(loop['classes'])
    assert {i for i, r in after.items() if r['disagrees']} == {i for i, r in before.items() if r['disagrees']} - decided
    published_files = [f for _, _, names in os.walk(loop['state']) for f in names]
    assert artifacts.DECISIONS not in published_files, 'the decisions file (it names reviewers) outlived the run'


def test_an_image_changed_under_a_decision_returns_to_the_queue_and_stales_its_override(loop, tmp_path):
    keep = loop['decided'][2][0]
    db = os.path.join(loop['state'], artifacts.REVIEWS)
    if keep not in reviews.latest(db):
        _decide_in_the_app(loop['state'], [(keep, 'keep', None)])
    path = str(tmp_path / 'label_overrides.csv')
    review.run(['--state', loop['state'], '--export-overrides', path])
    jpegs = dict(loop['jpegs'], **{keep: _reencoded(loop['jpegs'][keep])})
    changed = str(tmp_path / 'catalog')
    synth.write_catalog(changed, loop['styles'], jpegs)
    summary = _nightly(changed, loop['model'], loop['state'])
    assert summary['changes'][changes.CHANGED] == 1
    record = published(loop['state'])[keep]
    assert record['reviewed_class'] is None and record['disagrees']
    app = review_app.create_app(review_queue.load_published_run(loop['state']), db)
    assert f'data-id="{keep}"' in app.test_client().get('/').get_data(as_text=True)
    manifest = prepare.run(['--catalog', changed, '--output', str(tmp_path / 'prepared'), '--overrides', path])
    stale = [item for item in manifest['overrides']['items'] if item['outcome'] == overrides.STALE]
    assert [item['id'] for item in stale] == [keep] and stale[0]['reason'] == overrides.FINGERPRINT_CHANGED
