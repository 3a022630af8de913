"""Staged publishing: a job's output appears whole or not at all."""
import os

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files, publish
from tests import fake_store


def _write(folder, name, text):
    with open(os.path.join(folder, name), 'w', encoding='utf-8') as f:
        f.write(text)


def test_a_successful_block_replaces_the_previous_output(tmp_path):
    output = str(tmp_path / 'out')
    for version in ('one', 'two'):
        with publish.staged(output) as staging:
            os.makedirs(staging)
            _write(staging, artifacts.MANIFEST, version)
        assert files.read_text(os.path.join(output, artifacts.MANIFEST)) == version
    assert os.listdir(tmp_path) == ['out']


def test_a_failed_block_leaves_the_previous_output_and_no_staging(tmp_path):
    output = str(tmp_path / 'out')
    with publish.staged(output) as staging:
        os.makedirs(staging)
        _write(staging, artifacts.MANIFEST, 'good')
    with pytest.raises(RuntimeError):
        with publish.staged(output) as staging:
            os.makedirs(staging)
            _write(staging, artifacts.MANIFEST, 'half')
            raise RuntimeError('the pipeline failed')
    assert files.read_text(os.path.join(output, artifacts.MANIFEST)) == 'good'
    assert os.listdir(tmp_path) == ['out']


def test_a_folder_that_is_not_an_output_of_ours_is_never_replaced(tmp_path):
    _write(tmp_path, 'thesis.txt', 'precious')
    with pytest.raises(UserError, match='refusing to replace'):
        with publish.staged(str(tmp_path)):
            pass
    assert os.listdir(tmp_path) == ['thesis.txt']


def _publish_to_store(output, shards, version):
    """Publishes `shards` shards and a marker, each holding `version`, as a job writing to a store does."""
    with publish.staged(output) as staging:
        for shard in range(shards):
            with FileSystems.create(f'{staging}/predictions-{shard:05d}-of-{shards:05d}.csv') as f:
                f.write(version.encode())
        with FileSystems.create(f'{staging}/{artifacts.MANIFEST}') as f:
            f.write(version.encode())


def _listing(root):
    """What a reader of the store sees: each object's name under `out/` and the version it holds."""
    return {os.path.relpath(os.path.join(folder, name), root / 'out'): open(os.path.join(folder, name)).read()
            for folder, _, names in os.walk(root / 'out') for name in names}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(fake_store.FakeStore, 'root', str(tmp_path))
    return fake_store.PREFIX + 'out'


def test_on_a_store_a_rerun_with_fewer_shards_leaves_none_of_the_earlier_ones(tmp_path, store):
    _publish_to_store(store, 4, 'one')
    _publish_to_store(store, 2, 'two')
    assert _listing(tmp_path) == {'predictions-00000-of-00002.csv': 'two', 'predictions-00001-of-00002.csv': 'two',
                                  artifacts.MANIFEST: 'two'}
    assert sorted(m.path for m in FileSystems.match([store + '/predictions-*'])[0].metadata_list) == [
        f'{store}/predictions-0000{shard}-of-00002.csv' for shard in range(2)]
    assert sorted(os.listdir(tmp_path)) == ['out']


def test_on_a_store_a_reader_never_sees_a_marker_beside_mixed_or_partial_shards(tmp_path, store, monkeypatch):
    _publish_to_store(store, 3, 'one')
    seen = []
    for step in ('delete', 'rename'):
        original = getattr(fake_store.FakeStore, step)

        def one_object_at_a_time(self, *paths, original=original):
            for moved in zip(*paths):  # as a store does: each object on its own, a reader looking after each
                original(self, *([path] for path in moved))
                seen.append(_listing(tmp_path))
        monkeypatch.setattr(fake_store.FakeStore, step, one_object_at_a_time)
    _publish_to_store(store, 2, 'two')
    with_marker = [listing for listing in seen if artifacts.MANIFEST in listing]
    assert len(seen) > 8 and len(with_marker) < len(seen)
    for listing in with_marker:
        shards = {name: version for name, version in listing.items() if name.startswith('predictions-')}
        assert set(shards.values()) == {listing[artifacts.MANIFEST]}
        assert len(shards) == (3 if listing[artifacts.MANIFEST] == 'one' else 2)


def test_on_a_store_a_folder_not_ours_is_refused_and_an_interrupted_publish_is_replaced(tmp_path, store):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'thesis.txt').write_text('precious')
    with pytest.raises(UserError, match='refusing to replace'):
        _publish_to_store(store, 1, 'one')
    assert _listing(tmp_path) == {'thesis.txt': 'precious'}
    (tmp_path / 'out' / 'thesis.txt').unlink()
    (tmp_path / 'out' / artifacts.PUBLISHING).write_text('')  # a publish that stopped after deleting the marker
    (tmp_path / 'out' / 'predictions-00000-of-00001.csv').write_text('one')
    _publish_to_store(store, 1, 'two')
    assert _listing(tmp_path) == {'predictions-00000-of-00001.csv': 'two', artifacts.MANIFEST: 'two'}
