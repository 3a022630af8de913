"""The models folder: trained model releases (MODELS/<version>/, named by their retrain's start time) and the CURRENT
pointer the nightly job follows.

    MODELS/CURRENT             the release in use (one line)
    MODELS/HISTORY.json        every move of the pointer: version (the release), previous, action, reason, time
    MODELS/<version>/          one complete retrain: prepared/, model.keras, metrics.json, blessing.json,
                               export/<n>/, label_overrides.csv (when given), retrain.json (written last)

A release folder is published whole (staged, then renamed), and only then may CURRENT move to it, in one
step: a retrain killed at any point leaves CURRENT naming a complete release.
"""
import datetime
import json

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files, state

HISTORY = 'HISTORY.json'
PROMOTE, ROLLBACK, RETRAIN = 'promote', 'rollback', 'retrain'


def release_path(models_dir, release):
    return FileSystems.join(models_dir, release)


def is_models_dir(path):
    return FileSystems.exists(FileSystems.join(path, artifacts.CURRENT))


def current(models_dir):
    return state.current_run(models_dir)


def releases(models_dir):
    """The complete versions (published, with their retrain.json), oldest first; a retrain's staging folder
    (VERSION.staging-*) is not one."""
    matches = FileSystems.match([FileSystems.join(models_dir, '*', artifacts.RETRAIN)])[0].metadata_list
    return sorted(name for name in (m.path.rstrip('/').split('/')[-2] for m in matches) if '.' not in name)


def summary(models_dir, release):
    return files.read_json(FileSystems.join(release_path(models_dir, release), artifacts.RETRAIN))


def kind(models_dir, release):
    """'full labels' for a release of the full-labels model (its leaves beside it), else 'image only'."""
    return ('full labels' if FileSystems.exists(FileSystems.join(release_path(models_dir, release), artifacts.LEAVES))
            else 'image only')


def history(models_dir):
    path = FileSystems.join(models_dir, HISTORY)
    return files.read_json(path) if FileSystems.exists(path) else []


def move_current(models_dir, release, action, reason):
    """Points CURRENT at a complete `release` in one step and records the move in HISTORY.json."""
    if release not in releases(models_dir):
        raise UserError(f'{release!r} is not a complete model version in {models_dir}')
    previous = current(models_dir)
    moves = history(models_dir) + [{'version': release, 'previous': previous, 'action': action, 'reason': reason,
                                    'at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}]
    files.write_text(FileSystems.join(models_dir, HISTORY), json.dumps(moves, indent=1))
    state.set_current(models_dir, release)
    return previous


def rollback_target(models_dir):
    """The release in use before the current one. Moves replay as a stack: a promote or retrain pushes its
    release, a rollback pops one, so rolling back twice goes two versions back."""
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
    release = current(path)
    return FileSystems.join(release_path(path, release), artifacts.EXPORT)
