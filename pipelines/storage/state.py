"""The nightly job's state folder: a lock, versioned runs, and the CURRENT pointer readers go through.

    STATE/LOCK                 held by the running job: {"pid", "host", "started"}
    STATE/CURRENT              the id of the published run (one line)
    STATE/runs/<run-id>/       one complete run: catalog-*.csv/.parquet, validation/, quarantine/, summary.json

A run writes its folder completely, then replaces CURRENT (on a local disk with one rename; on an object
store by writing the pointer object last). A folder newer than CURRENT is therefore an unfinished run and
is deleted by the next one. The lock is atomic on a local or network file system (O_EXCL); on an object
store it is a best-effort check, so schedule one run at a time there (Airflow's max_active_runs=1).
"""
import contextlib
import datetime
import json
import os
import socket
import time

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import LockHeld
from pipelines.storage import files

# A lock file nobody managed to write into (its owner died at once) is stale after this long.
EMPTY_LOCK_STALE_SECONDS = 60


def new_run_id():
    """Sortable by time to the microsecond: 20261129T073000123456Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')


def run_path(state_dir, run_id):
    return FileSystems.join(state_dir, artifacts.RUNS, run_id)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path):
    """(the lock's content or None, whether it is stale)."""
    try:
        with open(path, encoding='utf-8') as f:
            holder = json.load(f)
    except (OSError, ValueError):
        try:
            age = time.time() - os.path.getmtime(path)
        except OSError:
            return None, True
        return None, age > EMPTY_LOCK_STALE_SECONDS
    if holder.get('host') != socket.gethostname():
        return holder, False  # another machine's process cannot be checked from here
    return holder, not _process_alive(int(holder.get('pid', -1)))


def _acquire_local(path, info):
    """Returns True when the lock was free, False when a stale one was taken over; LockHeld when held."""
    taken_over = False
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder, stale = _holder(path)
            if not stale:
                raise LockHeld(f'another nightly run holds {path} ({holder or "being written"}); '
                                'if no such process exists, remove the file') from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            taken_over = True
            continue
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(info, f)
        return not taken_over
    raise LockHeld(f'could not take {path}: other runs keep taking it')


@contextlib.contextmanager
def lock(state_dir):
    """Holds STATE/LOCK for the block; yields whether a stale lock of a dead run was taken over."""
    path = FileSystems.join(state_dir, artifacts.LOCK)
    info = {'pid': os.getpid(), 'host': socket.gethostname(),
            'started': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
    if files.is_local(state_dir):
        os.makedirs(state_dir, exist_ok=True)
        taken_over = not _acquire_local(path, info)
    else:
        if FileSystems.exists(path):
            raise LockHeld(f'another nightly run holds {path}; if none is running, delete it')
        with FileSystems.create(path) as f:
            f.write(json.dumps(info).encode('utf-8'))
        taken_over = False
    try:
        yield taken_over
    finally:
        FileSystems.delete([path])


def current_run(state_dir):
    """The published run's id, or None before the first run."""
    path = FileSystems.join(state_dir, artifacts.CURRENT)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return f.read().decode('utf-8').strip() or None


def set_current(state_dir, run_id):
    """Points CURRENT at `run_id` in one step: a rename on a file system, one object write on a store."""
    files.write_text(FileSystems.join(state_dir, artifacts.CURRENT), run_id + '\n')


def run_ids(state_dir):
    """Ids of the run folders present, oldest first."""
    root = FileSystems.join(state_dir, artifacts.RUNS)
    if files.is_local(state_dir):
        return sorted(os.listdir(root)) if os.path.isdir(root) else []
    matches = FileSystems.match([FileSystems.join(root, '*', '*')])[0].metadata_list
    return sorted({m.path[len(root):].strip('/').split('/')[0] for m in matches})


def delete_run(state_dir, run_id):
    path = run_path(state_dir, run_id)
    if FileSystems.exists(path):
        FileSystems.delete([path])


def remove_unfinished(state_dir, current):
    """Deletes run folders newer than CURRENT: runs that died before publishing. Returns their ids."""
    unfinished = [run_id for run_id in run_ids(state_dir) if current is None or run_id > current]
    for run_id in unfinished:
        delete_run(state_dir, run_id)
    return unfinished


def prune(state_dir, current, keep):
    """Keeps the `keep` newest published runs (CURRENT always among them); returns the deleted ids."""
    published = [run_id for run_id in run_ids(state_dir) if run_id <= current]
    old = published[:-keep] if keep > 0 else [r for r in published if r != current]
    for run_id in old:
        delete_run(state_dir, run_id)
    return old
