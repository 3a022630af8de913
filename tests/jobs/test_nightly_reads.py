"""A night's cost follows what changed: the nightly reads an image only when its file is new or changed, or its
item must be scored, and publishes exactly what reading every image (--rehash) publishes.

Three state folders run the same nights: `fast` (the default), `full` (--rehash every night) and `upgraded`
(day 1's catalog stripped of the image file columns, as published before they existed)."""
import glob
import json
import math
import os
import shutil

import pyarrow.parquet as pq
import pytest

from pipelines.jobs import nightly
from pipelines.rules import catalog, changes
from pipelines.storage import state
from tests.nightly_days import published

TIMES = ('scored_in_run', 'updated_in_run')


def _nightly(catalog_dir, model, state_dir, *extra):
    return nightly.run(['--catalog', catalog_dir, '--model', model, '--state', state_dir, *extra])


def _bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def _same_size_other_jpeg(path, donors):
    """Rewrites `path` in place with another JPEG's bytes padded to the same size (a decoder stops at the
    end-of-image marker), and puts its modification time back: the change the metadata cannot see."""
    before, original = os.stat(path), _bytes(path)
    donor = next(d for d in donors if len(d) < len(original) and d != original[:len(d)])
    with open(path, 'wb') as f:
        f.write(donor + b'\0' * (len(original) - len(donor)))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns


def _comparable(state_dir, summary):
    """The published catalog with run ids as night numbers, and the run's quarantine as a set."""
    runs = {run: str(n) for n, run in enumerate(sorted(os.listdir(os.path.join(state_dir, 'runs'))))}
    records = {i: {k: runs.get(v, v) if k in TIMES else v for k, v in r.items()}
               for i, r in published(state_dir).items()}
    quarantine = set()
    for path in glob.glob(os.path.join(state.run_path(state_dir, summary['run_id']), 'quarantine', '*.jsonl')):
        with open(path, encoding='utf-8') as f:
            quarantine |= {(r['id'], r['reason'], r['detail'], r['line']) for r in map(json.loads, f)}
    counts = {k: summary[k] for k in ('changes', 'catalog_rows', 'scored', 'quarantined', 'quarantined_by_reason',
                                      'rows_read')}
    return records, quarantine, counts


def assert_same_night(fast, full, skip=()):
    """Two nights publish the same: catalogs equal on every column but `skip` (probabilities within 1e-5:
    inference batches differ), quarantine and counts equal."""
    (fast_records, fast_quarantine, fast_counts), (full_records, full_quarantine, full_counts) = fast, full
    assert fast_counts == full_counts
    assert fast_quarantine == full_quarantine
    assert fast_records.keys() == full_records.keys()
    for item_id, record in fast_records.items():
        other = full_records[item_id]
        assert record.keys() == other.keys()
        for name, value in record.items():
            if name in skip:
                continue
            if isinstance(value, float):
                assert math.isclose(value, other[name], abs_tol=1e-5), (item_id, name)
            else:
                assert value == other[name], (item_id, name)


@pytest.fixture(scope='module')
def nights(days, trained, tmp_path_factory):
    """Day 2 of tests/nightly_days.py plus an image replaced (new bytes, new time) and one truncated, run after
    day 1 into the three state folders; then the same day again into `fast`."""
    root = tmp_path_factory.mktemp('reads')
    day2 = str(root / 'day2')
    shutil.copytree(days['day2'], day2)  # with the files' times
    kept = sorted(days['active1'] - days['removed'] - days['changed'])
    replaced, truncated = kept[0], kept[1]
    with open(catalog.image_path(day2, replaced), 'wb') as f:
        f.write(_bytes(catalog.image_path(day2, kept[2])))
    with open(catalog.image_path(day2, truncated), 'r+b') as f:
        f.truncate(200)
    model = trained[4]
    fast, full, upgraded = (str(root / name) for name in ('fast', 'full', 'upgraded'))
    day1 = {'fast': _nightly(days['day1'], model, fast), 'full': _nightly(days['day1'], model, full, '--rehash')}
    shutil.copytree(fast, upgraded)
    run_dir = state.run_path(upgraded, state.current_run(upgraded))
    for path in glob.glob(os.path.join(run_dir, 'catalog-*.parquet')):
        table = pq.read_table(path)
        pq.write_table(table.drop(list(catalog.IMAGE_FILE_COLUMNS)), path)
    day1_records = published(fast)
    day2_runs = {'fast': _nightly(day2, model, fast), 'full': _nightly(day2, model, full, '--rehash'),
                 'upgraded': _nightly(day2, model, upgraded)}
    comparable = {name: _comparable(folder, day2_runs[name])
                  for name, folder in (('fast', fast), ('full', full), ('upgraded', upgraded))}
    quiet = _nightly(day2, model, fast)
    return {'day2': day2, 'model': model, 'fast': fast, 'day1': day1, 'day1_records': day1_records,
            'day2_runs': day2_runs, 'comparable': comparable, 'quiet': quiet, 'replaced': replaced,
            'truncated': truncated, 'kept': kept}


def test_day_one_reads_each_image_once_and_stores_its_file(days, nights):
    assert nights['day1']['fast']['counters']['images_read'] == len(days['active1'])
    for item_id, record in nights['day1_records'].items():
        path = catalog.image_path(days['day1'], item_id)
        assert (record['image_size'], record['image_mtime']) == (os.path.getsize(path), os.path.getmtime(path))


def test_day_two_publishes_what_reading_every_image_publishes(nights):
    comparable = nights['comparable']
    assert_same_night(comparable['fast'], comparable['full'])
    fast = nights['day2_runs']['fast']
    assert fast['changes']['changed'] == 21  # 20 relabelled and the replaced image
    assert fast['counters']['images_read'] == fast['changes']['new'] + fast['changes']['changed'] + 1  # + truncated
    assert nights['day2_runs']['full']['counters']['images_read'] > fast['counters']['images_read']
    records = published(nights['fast'])
    assert records[nights['replaced']]['scored_in_run'] == fast['run_id']
    assert records[nights['truncated']]['status'] == changes.QUARANTINED


def test_the_first_night_after_the_upgrade_reads_each_image_once_and_rescores_nothing_unchanged(nights):
    comparable = nights['comparable']
    assert_same_night(comparable['upgraded'], comparable['full'], skip=catalog.IMAGE_FILE_COLUMNS)
    upgraded_records, full_records = comparable['upgraded'][0], comparable['full'][0]
    for item_id, record in upgraded_records.items():  # stored for every item read; removed ones were not
        if record['status'] == changes.ACTIVE:
            assert all(record[name] == full_records[item_id][name] for name in catalog.IMAGE_FILE_COLUMNS)
        else:
            assert record['image_mtime'] is None
    upgraded = nights['day2_runs']['upgraded']
    assert upgraded['scored'] == nights['day2_runs']['full']['scored']
    assert upgraded['counters']['images_read'] == nights['day2_runs']['full']['counters']['images_read']


def test_a_quiet_night_reads_no_image(nights):
    quiet = nights['quiet']
    assert quiet['counters']['images_read'] == 0
    assert quiet['scored'] == 0 and set(quiet['changes']) == {changes.UNCHANGED, 'known_unchanged'}
    assert quiet['quarantined_by_reason'][catalog.UNDECODABLE_IMAGE] == 1  # the truncated image, not read again


def test_an_in_place_rewrite_that_keeps_size_and_time_is_seen_only_with_rehash(nights, days):
    fast, day2, model = nights['fast'], nights['day2'], nights['model']
    item_id = nights['kept'][3]
    path = catalog.image_path(day2, item_id)
    before = published(fast)[item_id]
    _same_size_other_jpeg(path, [_bytes(catalog.image_path(day2, other)) for other in nights['kept'][4:40]])
    unnoticed = _nightly(day2, model, fast)
    assert unnoticed['counters']['images_read'] == 0 and unnoticed['scored'] == 0
    assert published(fast)[item_id]['content_hash'] == before['content_hash']
    noticed = _nightly(day2, model, fast, '--rehash')
    assert noticed['rehash'] and noticed['changes']['changed'] == 1 and noticed['scored'] == 1
    after = published(fast)[item_id]
    assert after['content_hash'] != before['content_hash'] and after['scored_in_run'] == noticed['run_id']
