"""The review page in a real browser (Debian's chromium + chromium-driver, driven by Selenium): a keyboard
shortcut decides, the decision survives a reload, and no request leaves the machine."""
import json
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from pipelines.review import app as review_app, queue as review_queue
from pipelines.storage import reviews
from tests import review_state
from tests.conftest import missing
from tests.sockets import loopback_only, this_process_tree

pytestmark = pytest.mark.slow  # a real browser

SERVER_LIFETIME_S = 120  # the server stops by itself even if the test does not stop it


def _driver():
    try:
        from selenium import webdriver  # pylint: disable=import-outside-toplevel
    except ImportError:
        missing('selenium is not installed (it is in requirements.lock: make venv)')
    chromium, chromedriver = shutil.which('chromium'), shutil.which('chromedriver')
    if not chromium or not chromedriver:
        missing('chromium and chromium-driver are not installed (.ci/run installs them with apt)')
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                     '--no-first-run', '--disable-background-networking', '--disable-component-update'):
        options.add_argument(argument)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=chromedriver))


@pytest.fixture()
def served(tmp_path):
    state_dir, _, records = review_state.write(str(tmp_path))
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    for url in _serve(review_app.create_app(review_queue.load_published_run(state_dir), db)):
        yield url, db, records


@pytest.fixture()
def served_with_audit(tmp_path):
    """The hand-made version with an audit whose one issue is an item the nightly model did not flag."""
    state_dir, _, records = review_state.write(str(tmp_path))
    plain = next(r for r in records.values() if not r['disagrees'] and not r['needs_review'])
    suggestion = next(c for c in ('Watches', 'Shoes') if c != plain['given_class'])
    audit_dir = review_state.write_audit(str(tmp_path), {plain['id']: (plain, 1e-9, suggestion, True)})
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    for url in _serve(review_app.create_app(review_queue.LatestRun(state_dir, audit_dir=audit_dir), db)):
        yield url, db, plain['id']


@pytest.fixture()
def served_full_labels(tmp_path):
    """The hand-made version as a full-labels model publishes it: every record has a predicted articleType."""
    state_dir, _, records = review_state.write(str(tmp_path), full_labels=True)
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    for url in _serve(review_app.create_app(review_queue.load_published_run(state_dir), db)):
        yield url, db, records


@pytest.fixture()
def served_with_attributes(tmp_path):
    """The hand-made version of a model with attribute heads: some items' gender is flagged."""
    state_dir, _, records = review_state.write(str(tmp_path), full_labels=True, with_attributes=True)
    db = str(tmp_path / 'state' / 'reviews.sqlite')
    for url in _serve(review_app.create_app(review_queue.load_published_run(state_dir), db)):
        yield url, db, records


def _serve(app):
    """Serves `app` on a free local port while the generator is open, under the socket watch (this process: the app;
    its children: chromedriver and Chromium); yields its URL."""
    server = make_server('127.0.0.1', 0, app, threaded=True)
    app.config['REVIEW_PORT'] = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    stopper = threading.Timer(SERVER_LIFETIME_S, server.shutdown)
    with loopback_only(this_process_tree, 'the review app or the browser') as sockets:
        thread.start()
        stopper.start()
        try:
            yield f'http://127.0.0.1:{server.server_port}/'
        finally:
            stopper.cancel()
            server.shutdown()
            thread.join(timeout=10)
    assert server.server_port in {port for _, port, _, _ in sockets}


def _requested_urls(driver):
    urls = []
    for entry in driver.get_log('performance'):
        message = json.loads(entry['message'])['message']
        if message['method'] == 'Network.requestWillBeSent':
            urls.append(message['params']['request']['url'])
    return urls


def test_a_keyboard_shortcut_accepts_and_the_decision_persists(served):
    """`a` accepts a card whose articleType the evidence preselects; on a card where nothing does, `a` asks for the
    type instead of writing one, and Enter on the chosen type accepts it."""
    url, db, records = served
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.support.ui import Select, WebDriverWait  # pylint: disable=import-outside-toplevel
    driver = _driver()
    try:
        driver.get(url)
        cards = driver.find_elements(By.CSS_SELECTOR, '.card')
        chosen = [c.find_element(By.CSS_SELECTOR, '.accept-article').get_attribute('value') for c in cards]
        preselected = next(c for c, value in zip(cards, chosen) if value)
        blind = next(c for c, value in zip(cards, chosen) if not value)
        item_id, blind_id = preselected.get_attribute('data-id'), blind.get_attribute('data-id')
        driver.find_element(By.ID, 'reviewer').send_keys('Ana')
        preselected.click()
        driver.find_element(By.TAG_NAME, 'body').send_keys('a')
        WebDriverWait(driver, 20).until(lambda d: preselected.get_attribute('data-decided') == 'accept')
        blind.click()
        driver.find_element(By.TAG_NAME, 'body').send_keys('a')
        choice = blind.find_element(By.CSS_SELECTOR, '.accept-article')
        WebDriverWait(driver, 5).until(lambda d: d.switch_to.active_element == choice)
        assert 'pick it' in driver.find_element(By.ID, 'status').text and not blind.get_attribute('data-decided')
        picked = Select(choice).options[-1].text
        Select(choice).select_by_visible_text(picked)
        choice.send_keys(Keys.ENTER)
        WebDriverWait(driver, 20).until(lambda d: blind.get_attribute('data-decided') == 'accept')
        driver.refresh()
        recent = driver.find_element(By.CSS_SELECTOR, f'#recent tr[data-id="{item_id}"]')
        assert recent.get_attribute('data-decision') == 'accept'
        assert item_id not in [c.get_attribute('data-id') for c in driver.find_elements(By.CSS_SELECTOR, '.card')]
        assert driver.find_element(By.ID, 'reviewer').get_attribute('value') == 'Ana'  # remembered locally
        requested = _requested_urls(driver)
        assert requested and all(u.startswith(url) or u.startswith('data:') for u in requested), requested
    finally:
        driver.quit()
    latest = reviews.latest(db)
    assert (latest[item_id].decision, latest[item_id].decided_by) == ('accept', 'Ana')
    assert latest[item_id].articleType and latest[item_id].fingerprint == records[item_id]['fingerprint']
    assert latest[item_id].article_chosen_by != 'reviewer'
    assert (latest[blind_id].articleType, latest[blind_id].article_chosen_by) == (picked, 'reviewer')


def test_an_audit_issue_leads_the_queue_and_is_decided_from_the_keyboard(served_with_audit):
    url, db, item_id = served_with_audit
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel
    driver = _driver()
    try:
        driver.get(url)
        first = driver.find_elements(By.CSS_SELECTOR, '.card')[0]
        assert first.get_attribute('data-id') == item_id and 'audit #1' in first.text
        driver.find_element(By.ID, 'reviewer').send_keys('Ana')
        first.click()
        driver.find_element(By.TAG_NAME, 'body').send_keys('g')
        WebDriverWait(driver, 20).until(lambda d: first.get_attribute('data-decided') == 'keep')
        requested = _requested_urls(driver)
        assert requested and all(u.startswith(url) or u.startswith('data:') for u in requested), requested
    finally:
        driver.quit()
    assert reviews.latest(db)[item_id].decision == 'keep'


def test_accept_writes_the_predicted_article_type_where_the_class_has_several(served_full_labels):
    """A full-labels model's card: accept offers the predicted articleType alone, on a Class with several types,
    and `a` writes it with its parents; relabel lists the model's top three types first."""
    url, db, records = served_full_labels
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.support.ui import Select, WebDriverWait  # pylint: disable=import-outside-toplevel
    several = {r['id'] for r in records.values() if r['top2_type']}  # its Class has more than one type
    driver = _driver()
    try:
        driver.get(url)
        card = next(c for c in driver.find_elements(By.CSS_SELECTOR, '.card') if c.get_attribute('data-id') in several)
        item_id = card.get_attribute('data-id')
        accept = Select(card.find_element(By.CSS_SELECTOR, '.accept-article'))
        assert [o.text for o in accept.options] == [records[item_id]['predicted_type']]
        relabel = [o.text for o in Select(card.find_element(By.CSS_SELECTOR, '.relabel-article')).options]
        top = [records[item_id][f'top{k}_type'] for k in range(1, 4) if records[item_id][f'top{k}_type']]
        assert relabel[:len(top)] == top
        driver.find_element(By.ID, 'reviewer').send_keys('Ana')
        card.click()
        driver.find_element(By.TAG_NAME, 'body').send_keys('a')
        WebDriverWait(driver, 20).until(lambda d: card.get_attribute('data-decided') == 'accept')
    finally:
        driver.quit()
    decision = reviews.latest(db)[item_id]
    record = records[item_id]
    assert (decision.decision, decision.articleType, decision.article_chosen_by) == (
        'accept', record['predicted_type'], 'model')
    assert (decision.masterCategory, decision.subCategory) == (record['predicted_master'], record['predicted_sub'])


def test_a_flagged_gender_is_accepted_from_its_card_and_is_gone_after_a_reload(served_with_attributes):
    url, db, records = served_with_attributes
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel
    driver = _driver()
    try:
        driver.get(url + '?kind=attribute')
        row = driver.find_element(By.CSS_SELECTOR, '.card .attribute[data-attribute="gender"]')
        card = row.find_element(By.XPATH, './ancestor::article')
        item_id = card.get_attribute('data-id')
        assert 'gender flagged' in card.text and 'evidence: name' in row.text
        driver.find_element(By.ID, 'reviewer').send_keys('Ana')
        row.find_element(By.CSS_SELECTOR, 'button[data-attribute-decision="accept"]').click()
        WebDriverWait(driver, 20).until(lambda d: 'decided' in row.get_attribute('class'))
        assert f'accept: {records[item_id]["predicted_gender"]} (Ana)' in row.text
        driver.refresh()
        assert item_id not in [c.get_attribute('data-id') for c in driver.find_elements(By.CSS_SELECTOR, '.card')]
        requested = _requested_urls(driver)
        assert requested and all(u.startswith(url) or u.startswith('data:') for u in requested), requested
    finally:
        driver.quit()
    decision = reviews.latest_attributes(db)[item_id, 'gender']
    assert (decision.decision, decision.value, decision.decided_by) == (
        'accept', records[item_id]['predicted_gender'], 'Ana')
