"""`review --audit`: an audit's issues queued beside the nightly flags, most suspicious first, in the same
decisions database; an item settled, or changed since the audit, is not queued again."""
import os
import re

import pytest

from pipelines.review import app as review_app, queue as review_queue
from pipelines.rules import catalog, changes
from pipelines.storage import reviews
from tests import review_state
from tests.review.test_app import _card_ids, _decide, _token


@pytest.fixture()
def audited(tmp_path):
    """The hand-made nightly version and an audit of four of its items: `first` (not flagged by the nightly
    model, the audit's surest issue), `both` (flagged by both), `changed` (its image changed since the audit)
    and `fine` (audited, no issue)."""
    state_dir, _, records = review_state.write(str(tmp_path))
    plain = [r for r in records.values() if not r['disagrees'] and not r['needs_review']]
    flagged = [r for r in records.values() if r['disagrees']]
    first, changed, fine, both = plain[0], plain[1], plain[2], flagged[-1]
    suggestion = next(c for c in ('Watches', 'Shoes') if c != first['given_class'])
    audit_dir = review_state.write_audit(str(tmp_path), {
        first['id']: (first, 1e-9, suggestion, True),
        both['id']: (both, 0.01, both['predicted_class'], True),
        changed['id']: (dict(changed, content_hash='0' * 64), 1e-8, suggestion, True),
        fine['id']: (fine, 0.95, fine['given_class'], False)})
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    app = review_app.create_app(review_queue.LatestRun(state_dir, audit_dir=audit_dir), db)
    return app, state_dir, audit_dir, records, {'first': first, 'both': both, 'changed': changed, 'fine': fine,
                                                'suggestion': suggestion}


def test_audit_issues_join_the_flags_most_suspicious_first(audited):
    app, state_dir, audit_dir, records, items = audited
    published = review_queue.load_published_run(state_dir, audit_dir=audit_dir)
    assert published.audit == {'queued': 2, 'stale': 1}
    page = app.test_client().get('/').get_data(as_text=True)
    ids = _card_ids(page)
    flagged = sorted((r for r in records.values() if r['disagrees']),
                     key=lambda r: (min(r['given_class_probability'], 0.01 if r['id'] == items['both']['id'] else 1),
                                    int(r['id'])))
    assert ids[0] == items['first']['id']  # the audit's 1e-9 is below every nightly flag
    assert ids[1:len(flagged) + 1] == [r['id'] for r in flagged][:len(ids) - 1]
    assert ids.count(items['both']['id']) <= 1
    assert items['changed']['id'] not in ids and items['fine']['id'] not in ids
    card = re.search(rf'data-id="{items["first"]["id"]}".*?</article>', page, re.S).group(0)
    suggested = review_state.suggested_type(items['suggestion'])[2]
    assert 'audit #1: the image disagrees' in card and f'<b class="predicted-type">{suggested}</b>' in card


def test_a_settled_audit_issue_leaves_the_queue_until_the_item_changes(audited, tmp_path):
    app, state_dir, audit_dir, _, items = audited
    client = app.test_client()
    token = _token(client)
    first = items['first']
    choices = review_queue.article_choices(review_queue.load_published_run(state_dir).taxonomy)
    article = next(a for a, (_, _, c) in choices.items() if c == items['suggestion'])
    assert _decide(client, token, first['id'], 'accept', article).status_code == 200
    decision = reviews.latest(str(tmp_path / 'state' / 'reviews.sqlite'))[first['id']]
    assert decision.predicted_class == items['suggestion'] and not decision.flagged  # flagged: the nightly's flag
    assert first['id'] not in _card_ids(client.get('/').get_data(as_text=True))
    changed = dict(first, productDisplayName=first['productDisplayName'] + ' v2')
    changed['fingerprint'] = changes.fingerprint(catalog.labels_of(changed), changed['productDisplayName'],
                                               changed['content_hash'])
    still = review_queue.queue(review_queue.PublishedRun(
        'next', {**review_queue.load_published_run(state_dir, audit_dir=audit_dir).records,
                 first['id']: dict(changed, audit_issue=True, audit_label_quality=1e-9)},
        None, ''), reviews.latest(str(tmp_path / 'state' / 'reviews.sqlite')))
    assert first['id'] in [r['id'] for r in still]


def test_review_audit_of_a_folder_that_is_no_audit_is_one_line(audited, tmp_path, capsys):
    from pipelines import cli  # pylint: disable=import-outside-toplevel
    empty = tmp_path / 'not-an-audit'
    empty.mkdir()
    code = cli.main(['review', '--state', audited[1], '--audit', str(empty), '--export-overrides',
                     str(tmp_path / 'o.csv')])
    assert code == 0  # exporting overrides reads only the database
    code = cli.main(['review', '--state', audited[1], '--audit', str(empty), '--export-label-studio',
                     str(tmp_path / 't.json')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and 'is not a published audit' in err[0]
    assert os.path.exists(audited[2])
