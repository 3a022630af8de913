"""Single-file writes: whole or not at all, into folders that may not exist yet."""
import os

from pipelines.storage import files


def test_a_write_creates_missing_folders_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / 'new' / 'folder' / 'report.html')
    files.write_text(path, 'first')
    files.write_json(path, {'second': 2})
    assert files.read_json(path) == {'second': 2}
    assert os.listdir(tmp_path / 'new' / 'folder') == ['report.html']
