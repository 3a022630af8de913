"""The models folder: trained model versions and the CURRENT pointer the nightly job follows.

    MODELS/CURRENT             the version in use (one line)
    MODELS/HISTORY.json        every move of the pointer: version, previous, action, reason, time
    MODELS/<version>/          one complete retrain: prepared/, model.keras, metrics.json, blessing.json,
                               export/<n>/, label_overrides.csv (when given), retrain.json (written last)

A version folder is published whole (staged, then renamed), and only then may CURRENT move to it, in one
step: a retrain killed at any point leaves CURRENT naming a complete version.
"""
import datetime
import json

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files, state

HISTORY = 'HISTORY.json'
PROMOTE, ROLLBACK, RETRAIN = 'promote', 'rollback', 'retrain'


def version_path(models_dir, version):
    return FileSystems.join(models_dir, version)


def is_models_dir(path):
    return FileSystems.exists(FileSystems.join(path, artifacts.CURRENT))


def current(models_dir):
    return state.current_run(models_dir)


def versions(models_dir):
    """The complete versions (published, with their retrain.json), oldest first; a retrain's staging folder
    (VERSION.staging-*) is not one."""
    matches = FileSystems.match([FileSystems.join(models_dir, '*', artifacts.RETRAIN)])[0].metadata_list
    return sorted(name for name in (m.path.rstrip('/').split('/')[-2] for m in matches) if '.' not in name)


def summary(models_dir, version):
    return files.read_json(FileSystems.join(version_path(models_dir, version), artifacts.RETRAIN))


def history(models_dir):
    path = FileSystems.join(models_dir, HISTORY)
    return files.read_json(path) if FileSystems.exists(path) else []


def move_current(models_dir, version, action, reason):
    """Points CURRENT at a complete `version` in one step and records the move in HISTORY.json."""
    if version not in versions(models_dir):
        raise UserError(f'{version!r} is not a complete model version in {models_dir}')
    previous = current(models_dir)
    moves = history(models_dir) + [{'version': version, 'previous': previous, 'action': action, 'reason': reason,
                                    'at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}]
    files.write_text(FileSystems.join(models_dir, HISTORY), json.dumps(moves, indent=1))
    state.set_current(models_dir, version)
    return previous


def rollback_target(models_dir):
    """The version in use before the current one. Moves replay as a stack: a promote or retrain pushes its
    version, a rollback pops one, so rolling back twice goes two versions back."""
    stack = []
    for move in history(models_dir):
        if move['action'] == ROLLBACK:
            stack.pop()
        else:
            stack.append(move['version'])
    if len(stack) < 2:
        raise UserError(f'nothing to roll back to in {models_dir}: {current(models_dir)!r} is the first model in use')
    return stack[-2]


def resolve_export(path):
    """An export path for `path`: a models folder means its CURRENT version's export folder."""
    path = path.rstrip('/')
    if not is_models_dir(path):
        return path
    version = current(path)
    return FileSystems.join(version_path(path, version), artifacts.EXPORT)
