"""The models folder: complete versions, the CURRENT pointer, promote and rollback."""
import json
import os

import pytest

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import exported_model, models


def _version(root, name):
    folder = root / name
    (folder / 'export' / '1700000000').mkdir(parents=True)
    (folder / 'export' / '1700000000' / 'saved_model.pb').write_bytes(b'')
    (folder / artifacts.RETRAIN).write_text(json.dumps({'version': name}))
    return name


def test_versions_are_the_complete_folders_and_staging_is_not_one(tmp_path):
    for name in ('20261101T000000000000Z', '20261108T000000000000Z'):
        _version(tmp_path, name)
    _version(tmp_path, '20261115T000000000000Z.staging-1a2b3c4d')  # killed after writing its summary
    (tmp_path / '20261122T000000000000Z').mkdir()  # killed before
    assert models.releases(str(tmp_path)) == ['20261101T000000000000Z', '20261108T000000000000Z']


def test_promote_and_rollback_move_current_as_a_stack(tmp_path):
    root = str(tmp_path)
    a, b, c = (_version(tmp_path, f'2026110{n}T000000000000Z') for n in (1, 2, 3))
    with pytest.raises(UserError, match='not a complete model version'):
        models.move_current(root, 'nope', models.PROMOTE, 'x')
    models.move_current(root, a, models.RETRAIN, 'first')
    with pytest.raises(UserError, match='nothing to roll back to'):
        models.rollback_target(root)
    models.move_current(root, b, models.RETRAIN, 'better')
    models.move_current(root, c, models.PROMOTE, 'by hand')
    assert models.rollback_target(root) == b
    models.move_current(root, b, models.ROLLBACK, 'undo')
    assert models.current(root) == b and models.rollback_target(root) == a
    assert [m['action'] for m in models.history(root)] == ['retrain', 'retrain', 'promote', 'rollback']


def test_a_models_folder_resolves_to_its_current_export(tmp_path):
    a = _version(tmp_path, '20261101T000000000000Z')
    models.move_current(str(tmp_path), a, models.RETRAIN, 'first')
    assert exported_model.newest_version(str(tmp_path)) == os.path.join(str(tmp_path), a, 'export', '1700000000')
