"""Single-file writes: whole or not at all, into folders that may not exist yet; path flags' checks."""
import argparse
import os

from pipelines.storage import files


def test_a_write_creates_missing_folders_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / 'new' / 'folder' / 'report.html')
    files.write_text(path, 'first')
    files.write_json(path, {'second': 2})
    assert files.read_json(path) == {'second': 2}
    assert os.listdir(tmp_path / 'new' / 'folder') == ['report.html']


def test_check_paths_makes_local_paths_absolute_for_workers_in_other_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'catalog').mkdir()
    args = argparse.Namespace(catalog='catalog', output='gs://bucket/out', baseline=None)
    files.check_paths(args, folders=['catalog', 'output'], files=['baseline'])
    assert args.catalog == str(tmp_path / 'catalog')
    assert args.output == 'gs://bucket/out' and args.baseline is None
