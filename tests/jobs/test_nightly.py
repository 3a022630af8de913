"""Day 1 -> day 2 of the nightly job on a synthetic catalog, a run killed mid-write, the lock, the blessing."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pipelines import artifacts, cli
from pipelines.errors import LockHeld, UserError, ValidationFailed
from pipelines.jobs import nightly, synth
from pipelines.rules import catalog
from pipelines.storage import state
from tests.catalog_files import read_catalog
from tests.deploy.clusters import assert_same
from tests.nightly_days import published
from tests.sockets import beam_job_on_loopback

def _nightly(catalog_dir, model, state_dir, *extra):
    return nightly.run(['--catalog', catalog_dir, '--model', model, '--state', state_dir, *extra])


@pytest.fixture()
def two_days(two_nights):
    """The shared nights (tests/conftest.py); a test must not change their state folder."""
    return two_nights


def test_day_one_scores_every_item(days, two_days):
    _, first, day1_catalog, _ = two_days
    assert first['scored'] == len(days['active1']) == first['changes']['new']
    assert set(day1_catalog) == days['active1']
    assert {r['status'] for r in day1_catalog.values()} == {'active'}


def test_day_two_scores_exactly_the_new_and_changed_items(days, two_days):
    state_dir, first, day1_catalog, second = two_days
    assert second['scored'] == 70
    assert second['changes'] == {'new': 50, 'changed': 20, 'unchanged': len(days['active1']) - 30,
                                 'known_removed': 10}
    after = published(state_dir)
    assert set(after) == days['active1'] | days['new']
    assert {i for i, r in after.items() if r['status'] == 'removed'} == days['removed']
    assert {i for i, r in after.items() if r['scored_in_run'] == second['run_id']} == days['new'] | days['changed']
    for item_id in days['removed']:
        assert {k: v for k, v in after[item_id].items() if k not in ('status', 'updated_in_run')} == {
            k: v for k, v in day1_catalog[item_id].items() if k not in ('status', 'updated_in_run')}
    unchanged = days['active1'] - days['removed'] - days['changed']
    assert all(after[i] == day1_catalog[i] for i in unchanged)
    for item_id in days['changed']:
        assert after[item_id]['fingerprint'] != day1_catalog[item_id]['fingerprint']


def test_day_two_quarantines_the_malformed_rows(days, two_days):
    state_dir, first, _, second = two_days
    assert second['quarantined_by_reason'][catalog.WRONG_FIELD_COUNT] == 5
    assert second['quarantined'] == first['quarantined'] + 5
    run_dir = state.run_path(state_dir, second['run_id'])
    reasons = {}
    for path in glob.glob(os.path.join(run_dir, 'quarantine', '*.jsonl')):
        with open(path, encoding='utf-8') as f:
            reasons.update((r['id'], r['reason']) for r in map(json.loads, f))
    assert {i for i, reason in reasons.items() if reason == catalog.WRONG_FIELD_COUNT} == days['malformed']
    assert second['rows_read'] == second['changes']['unchanged'] + second['scored'] + second['quarantined']


@pytest.mark.slow  # worker processes
def test_the_multi_process_runner_publishes_day_one_alike_with_every_server_on_loopback(days, two_days, trained,
                                                                                        tmp_path):
    _, first, day1_catalog, _ = two_days
    state_dir = str(tmp_path / 'state')
    with beam_job_on_loopback():
        summary = _nightly(days['day1'], trained[4], state_dir, '--direct_running_mode=multi_processing',
                           '--direct_num_workers=2')
    assert (summary['scored'], summary['quarantined']) == (first['scored'], first['quarantined'])
    assert_same(day1_catalog, published(state_dir), tolerance=1e-4)


def test_the_same_input_again_scores_nothing_and_publishes_the_same_catalog(days, two_days, trained, tmp_path):
    state_dir = str(tmp_path / 'state')
    shutil.copytree(two_days[0], state_dir)  # the shared nights stay as they are
    second = two_days[3]
    before = published(state_dir)
    again = _nightly(days['day2'], trained[4], state_dir)
    assert again['scored'] == 0 and again['previous_run'] == second['run_id']
    assert published(state_dir) == before
    with open(os.path.join(state.run_path(state_dir, again['run_id']), 'summary.json'), encoding='utf-8') as f:
        assert json.load(f)['scored'] == 0


def _nightly_process(catalog_dir, model, state_dir):
    return subprocess.Popen([sys.executable, '-m', 'pipelines.jobs.nightly', '--catalog', catalog_dir, '--model', model,
                             '--state', state_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_run_killed_while_writing_leaves_the_previous_version_and_the_next_run_recovers(days, trained, tmp_path):
    state_dir = str(tmp_path / 'state')
    _nightly(days['day1'], trained[4], state_dir)
    day1_run, day1_catalog = state.current_run(state_dir), published(state_dir)
    process = _nightly_process(days['day2'], trained[4], state_dir)
    deadline = time.time() + 300
    writing = []
    while not writing and process.poll() is None and time.time() < deadline:
        writing = [p for p in glob.glob(os.path.join(state_dir, 'runs', '*', '*catalog*')) if day1_run not in p]
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert writing, 'the run ended before it wrote its catalog'
    assert state.current_run(state_dir) == day1_run and published(state_dir) == day1_catalog
    assert os.path.exists(os.path.join(state_dir, artifacts.LOCK)), 'a killed run leaves its lock behind'
    recovered = _nightly(days['day2'], trained[4], state_dir)
    assert recovered['took_over_stale_lock'] and len(recovered['removed_unfinished_runs']) == 1
    assert recovered['scored'] == 70
    after = published(state_dir)
    assert set(after) == days['active1'] | days['new']
    assert sum(r['status'] == 'removed' for r in after.values()) == 10
    assert not os.path.exists(os.path.join(state_dir, artifacts.LOCK))


def test_a_second_run_while_one_holds_the_lock_exits_75_with_a_clear_message(days, trained, tmp_path, capsys):
    state_dir = str(tmp_path / 'state')
    with state.lock(state_dir, 'holder') as taken_over:
        assert taken_over == (None, None)
        with pytest.raises(LockHeld, match='another nightly run holds'):
            _nightly(days['day1'], trained[4], state_dir)
        code = cli.main(['nightly', '--catalog', days['day1'], '--model', trained[4], '--state', state_dir])
        assert code == cli.EXIT_LOCK_HELD == 75
        assert 'temporary' in capsys.readouterr().err
    assert state.current_run(state_dir) is None


def test_an_unblessed_model_is_refused(days, trained, tmp_path):
    model_dir = tmp_path / 'model'
    shutil.copytree(os.path.dirname(os.path.dirname(trained[4])), model_dir,
                    ignore=shutil.ignore_patterns('backup', 'logs', 'checkpoints'))
    export = str(model_dir / 'export' / os.path.basename(trained[4]))
    with open(model_dir / 'blessing.json', 'w', encoding='utf-8') as f:
        json.dump({'blessed': False, 'reasons': ['test accuracy 0.50 < 0.85']}, f)
    with pytest.raises(UserError, match='not blessed.*0.50'):
        _nightly(days['day1'], export, str(tmp_path / 'state'))
    assert _nightly(days['day1'], export, str(tmp_path / 'state'), '--allow-unblessed')['scored'] > 0


def test_a_broken_catalog_stops_before_publishing(days, trained, tmp_path):
    state_dir = str(tmp_path / 'state')
    _nightly(days['day1'], trained[4], state_dir)
    current = state.current_run(state_dir)
    broken = tmp_path / 'broken'
    styles, jpegs = read_catalog(days['day1'])
    for row in styles[:5]:
        row['year'] = 'last year'
    synth.write_catalog(str(broken), styles, jpegs)
    with pytest.raises(ValidationFailed, match='nothing was published'):
        _nightly(str(broken), trained[4], state_dir)
    assert state.current_run(state_dir) == current


def test_keep_prunes_old_runs_but_never_the_current_one(days, trained, tmp_path):
    state_dir = str(tmp_path / 'state')
    for _ in range(3):
        summary = _nightly(days['day1'], trained[4], state_dir, '--keep', '2')
    assert state.run_ids(state_dir)[-1] == summary['run_id'] == state.current_run(state_dir)
    assert len(state.run_ids(state_dir)) == 2


def test_a_night_with_a_fifth_of_the_rows_unlabelled_publishes_and_labels_them(days, trained, tmp_path):
    styles, jpegs = read_catalog(days['day1'])
    unlabelled = set()
    for i, row in enumerate(styles):
        if i % 5 == 0 and row['id'] in jpegs:
            row['articleType'] = ''
            unlabelled.add(row['id'])
    synth.write_catalog(str(tmp_path / 'catalog'), styles, jpegs)
    state_dir = str(tmp_path / 'state')
    summary = _nightly(str(tmp_path / 'catalog'), trained[4], state_dir)
    assert summary['unlabelled'] == len(unlabelled)
    assert summary['rows_read'] == summary['scored'] + summary['quarantined']
    assert catalog.EMPTY_LABEL not in summary['quarantined_by_reason']
    records = published(state_dir)
    assert unlabelled <= set(records)
    assert {records[i]['given_class'] for i in unlabelled} == {'Unknown'}
    assert all(records[i]['predicted_class'] and records[i]['given_class_probability'] is None for i in unlabelled)
    assert summary['unknown_labelled']['count'] >= len(unlabelled)
    assert sum(r['needs_review'] for r in records.values()) == summary['unknown_labelled']['needs_review']


def test_each_run_writes_its_figures_alerts_and_a_prometheus_textfile(two_days):
    from prometheus_client.parser import text_string_to_metric_families  # pylint: disable=import-outside-toplevel
    state_dir, first, _, second = two_days
    assert first['alerts'] == [] and set(second['figures']) == {
        'quarantine_share', 'unlabelled_share', 'disagreements_per_1000', 'mean_confidence', 'drift_warnings'}
    assert second['figures']['quarantine_share'] == second['quarantined'] / second['rows_read']
    assert 0 < second['figures']['mean_confidence'] <= 1
    with open(os.path.join(state_dir, artifacts.METRICS_PROM), encoding='utf-8') as f:
        families = {family.name: family for family in text_string_to_metric_families(f.read())}
    with open(os.path.join(state.run_path(state_dir, state.current_run(state_dir)), artifacts.SUMMARY),
              encoding='utf-8') as f:
        latest = json.load(f)  # other tests run the job again on this state: the file is the latest run's
    assert families['fashion_nightly_rows_read'].samples[0].value == latest['rows_read']
    assert families['fashion_nightly_alerts'].samples[0].value == len(latest['alerts'])
    assert families['fashion_nightly_neighbours'].samples[0].value == latest['neighbours']['count']
    family = families.get('fashion_nightly_attributes_filled')
    filled = {sample.labels['attribute']: sample.value for sample in family.samples} if family else {}
    assert filled == {column: float(n) for column, n in latest['attributes']['filled'].items()}
    assert families['fashion_nightly_last_success_timestamp_seconds'].samples[0].value > 1.7e9


def test_reviewers_decisions_reach_the_pipeline_as_a_file_and_the_job_graph_does_not_grow_with_them(tmp_path):
    """On Flink and Dataflow the job graph is shipped to the cluster: 2,000 decisions must not be in it."""
    import apache_beam as beam  # pylint: disable=import-outside-toplevel
    from pipelines.rules import decisions as decisions_lib  # pylint: disable=import-outside-toplevel
    from pipelines.transforms.scoring import Scoring  # pylint: disable=import-outside-toplevel
    from tests import fake_export  # pylint: disable=import-outside-toplevel
    model = fake_export.write(str(tmp_path / 'export'))
    night = nightly.Night(str(tmp_path / 'catalog'), ('id',), str(tmp_path / 'state'), model, 'r1', None, [], None,
                          False)
    sizes = {}
    for count in (0, 2000):
        latest = [decisions_lib.Decision(
            id=str(n), decision='keep', masterCategory='A', subCategory='B', articleType='C', given_class='X',
            predicted_class='Y', flagged=True, decided_by=f'reviewer-{n}@example.com', decided_at='2026-12-01T00:00:00',
            model_version='1', catalog_version='r0', fingerprint='f') for n in range(count)]
        path = nightly.write_decisions(night, latest)
        assert path.startswith(os.path.join(str(tmp_path / 'state'), artifacts.STATE_TMP, 'r1'))
        assert not path.startswith(night.run_dir)
        p = beam.Pipeline()
        nightly.build_pipeline(p, night, Scoring(), path)
        graph = p.to_runner_api().SerializeToString()
        assert b'reviewer-1999@example.com' not in graph
        sizes[count] = len(graph)
    assert abs(sizes[2000] - sizes[0]) < 100, sizes  # two builds differ by a few bytes of pickled code


def test_a_declared_neighbour_pair_never_flags_and_the_nightly_counts_it_under_neighbour_type(days, two_days, trained,
                                                                                              tmp_path):
    state_dir, _, _, _ = two_days
    flagged = {i: r for i, r in published(state_dir).items()
               if r['status'] == 'active' and (r['disagrees'] or r['disagrees_type']) and r['predicted_type']}
    assert flagged, "day 2's changed labels are swaps the trained model flags"
    pairs = sorted({frozenset((r['articleType'], r['predicted_type'])) for r in flagged.values()}, key=sorted)
    declared = tmp_path / 'neighbours.csv'
    declared.write_text('type_a,type_b,relation,declared_by,declared_on,why\n' + ''.join(
        f'{a},{b},neighbours,test,2026-12-07,declared\n' for a, b in map(sorted, pairs)), encoding='utf-8')
    summary = _nightly(days['day2'], trained[4], str(tmp_path / 'state'), '--neighbours', str(declared))
    again = published(str(tmp_path / 'state'))
    assert not [i for i, r in again.items() if r['disagrees'] or r['disagrees_type']
                if frozenset((r['articleType'], r['predicted_type'])) in pairs]
    assert all(again[i]['neighbour_type'] == r['predicted_type'] for i, r in flagged.items())
    # every flag of day 2 is now counted apart, and so is an item whose flag a bar withheld on day 2 (its pair
    # declared now: withheld as neighbours before any bar)
    counted = [i for i, r in again.items() if r['neighbour_type']]
    assert summary['neighbours']['count'] == len(counted) >= len(flagged)
