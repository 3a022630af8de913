"""The nightly job's state folder: a lock, versioned runs, and the CURRENT pointer readers go through.

    STATE/LOCK                 held by the running job: {"run", "host", "pid", "started", "heartbeat"}
    STATE/CURRENT              the id of the published run (one line)
    STATE/runs/<run-id>/       one complete run: catalog-*.csv/.parquet, validation/, quarantine/, summary.json

A run writes its folder completely, then replaces CURRENT (on a local disk with one rename; on an object
store by writing the pointer object last). A folder newer than CURRENT is therefore an unfinished run and
is deleted by the next one.

The lock is atomic on a local or network file system: it is created with O_EXCL, and taking over a stale one
(read it, judge it stale, remove it, create ours) happens under an exclusive flock on STATE/LOCK.guard, so two
runs that find the same stale lock cannot both take it. (Renaming the stale file away first is not enough: a
third run that finds no lock in that moment creates one too.) On an object store it is a best-effort check,
so schedule one run at a time there (Airflow's max_active_runs=1). A live run renews the lock's heartbeat; a
lock is taken over, and the run says whose, when its process is gone (same host), its heartbeat expired (any
host: the run died or its host did), or the run is older than its maximum age (it hangs: a heartbeat thread
keeps beating in a process that makes no progress, so the age is what ends it). The maximum age must exceed
the scheduler's own time limit for the task (docs/operations.md); a run past it stops renewing, and
`set_current_while_held` keeps it from publishing over the run that took its lock.
"""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import threading
import time

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import LockHeld
from pipelines.storage import files

# A lock file nobody managed to write into (its owner died at once) is stale after this long.
EMPTY_LOCK_STALE_SECONDS = 60
# A live run renews its lock's heartbeat this often; a lock whose heartbeat is older than LOCK_TTL_SECONDS
# belongs to a run that died (on any host) or hangs, and is taken over.
HEARTBEAT_SECONDS = 60.0
LOCK_TTL_SECONDS = 600.0
# A run older than this is hung, whatever its heartbeat says: above the nightly DAG's 240-minute time limit.
MAX_RUN_AGE_SECONDS = 6 * 3600.0


def new_run_id():
    """Sortable by time to the microsecond: 20261129T073000123456Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')


def run_path(state_dir, run_id):
    return FileSystems.join(state_dir, artifacts.RUNS, run_id)


def process_alive(pid):
    """Whether process `pid` of this host runs. A zombie does not: a killed run whose parent died is one until
    something reaps it, which in a container whose first process reaps nothing is never."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return True


def describe(holder):
    """A lock holder in one phrase, for the lines that say whose lock is held, expired or broken."""
    if not holder:
        return 'an unreadable lock'
    beat = holder.get('heartbeat')
    age = f', last heartbeat {time.time() - beat:.0f} s ago' if isinstance(beat, (int, float)) else ''
    return f'run {holder.get("run")} (host {holder.get("host")}, pid {holder.get("pid")}{age})'


def _read_holder(path):
    try:
        return json.loads(files.read_text(path))
    except (OSError, IOError, ValueError):
        return None


def _stale(path, holder, ttl):
    """Why the lock at `path` may be taken over, or None while its holder may still be running."""
    if holder is None:
        try:
            age = time.time() - os.path.getmtime(path) if files.is_local(path) else ttl + 1
        except OSError:
            return 'it is gone'
        return 'it was never written' if age > EMPTY_LOCK_STALE_SECONDS else None
    if holder.get('host') == socket.gethostname() and not process_alive(int(holder.get('pid', -1))):
        return 'its process is gone'
    beat = holder.get('heartbeat')
    if not isinstance(beat, (int, float)) or time.time() - beat > ttl:
        return f'its heartbeat is older than {ttl:.0f} s'
    since, max_age = holder.get('started_at'), holder.get('max_age')
    if isinstance(since, (int, float)) and isinstance(max_age, (int, float)) and time.time() - since > max_age:
        return f'the run is older than its maximum age ({max_age:.0f} s): it hangs'
    return None


@contextlib.contextmanager
def _guarded(path):
    """An exclusive flock on STATE/LOCK.guard for the block: every change to a local lock (create, take over, renew,
    release) happens under it, so that each one judges the lock it changes."""
    with open(os.path.join(os.path.dirname(path), artifacts.LOCK_GUARD), 'a', encoding='ascii') as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def _acquire_local(path, info, ttl):
    """(None, None) when the lock was free, (holder, reason) when an expired or dead one was taken over;
    LockHeld while another run holds it."""
    with _guarded(path):
        taken_over = (None, None)
        if os.path.exists(path):
            holder = _read_holder(path)
            reason = _stale(path, holder, ttl)
            if reason is None:
                raise LockHeld(f'another nightly run holds {path}: {describe(holder)}; if it is not running, '
                               'pass --break-lock')
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            taken_over = (holder, reason)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # a run of a version without the guard
            raise LockHeld(f'another nightly run took {path} at the same moment') from None
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(info, f)
        return taken_over


def _acquire_object_store(path, info, ttl):
    """The same on an object store, best effort: Beam's file API has no atomic create-if-absent, so two runs
    that start at once can both believe they hold it (docs/operations.md: schedule one run at a time)."""
    taken_over = (None, None)
    if FileSystems.exists(path):
        holder = _read_holder(path)
        reason = _stale(path, holder, ttl)
        if reason is None:
            raise LockHeld(f'another nightly run holds {path}: {describe(holder)}; if it is not running, '
                           'pass --break-lock')
        taken_over = (holder, reason)
    files.write_json(path, info)
    if (_read_holder(path) or {}).get('run') != info['run']:
        raise LockHeld(f'another nightly run took {path} at the same moment')
    return taken_over


@contextlib.contextmanager
def _changing(path):
    """The guard around a change to the lock at `path` where there is one (a local file system)."""
    if files.is_local(path):
        with _guarded(path):
            yield
    else:
        yield


class _Heartbeat(threading.Thread):
    """Renews the lock's heartbeat while the run lives, as long as the lock is still this run's and the run is
    younger than its maximum age."""

    def __init__(self, path, info):
        super().__init__(daemon=True, name='lock-heartbeat')
        self._path, self._info, self._stopping = path, info, threading.Event()

    def run(self):
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            if time.time() - self._info['started_at'] > self._info['max_age']:
                return  # hung, or too slow for its schedule: let the next run take over
            with _changing(self._path):
                if (_read_holder(self._path) or {}).get('run') != self._info['run']:
                    return  # broken or taken over: never write into another run's lock
                self._info = dict(self._info, heartbeat=time.time())
                files.write_json(self._path, self._info)

    def stop(self):
        self._stopping.set()
        self.join()


@contextlib.contextmanager
def lock(state_dir, run_id, ttl=LOCK_TTL_SECONDS, max_age=MAX_RUN_AGE_SECONDS):
    """Holds STATE/LOCK for the block, for run `run_id`, renewing its heartbeat for at most `max_age` seconds.
    Yields (the holder whose lock was taken over, why) or (None, None). At the end the lock is removed, unless
    another run holds it by then."""
    path = FileSystems.join(state_dir, artifacts.LOCK)
    now = time.time()
    info = {'run': run_id, 'pid': os.getpid(), 'host': socket.gethostname(),
            'started': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'started_at': now, 'max_age': max_age, 'heartbeat': now}
    if files.is_local(state_dir):
        os.makedirs(state_dir, exist_ok=True)
        taken_over = _acquire_local(path, info, ttl)
    else:
        taken_over = _acquire_object_store(path, info, ttl)
    heartbeat = _Heartbeat(path, info)
    heartbeat.start()
    try:
        yield taken_over
    finally:
        heartbeat.stop()
        with _changing(path):
            if (_read_holder(path) or {}).get('run') == run_id:
                FileSystems.delete([path])


def set_current_while_held(state_dir, run_id):
    """Points CURRENT at `run_id` if STATE/LOCK is still that run's (checked under the guard where there is one);
    LockHeld if not: a run that outlived its maximum age, or whose lock was broken, must not publish over the
    run that took its lock."""
    path = FileSystems.join(state_dir, artifacts.LOCK)
    with _changing(path):
        holder = _read_holder(path)
        if (holder or {}).get('run') != run_id:
            raise LockHeld(f'run {run_id} no longer holds the lock of {state_dir} (now {describe(holder)}): it ran '
                           'past its maximum age or the lock was broken; nothing was published')
        set_current(state_dir, run_id)


def break_lock(state_dir):
    """Removes STATE/LOCK whoever holds it; returns its holder (None when there was no lock)."""
    path = FileSystems.join(state_dir, artifacts.LOCK)
    if not FileSystems.exists(path):
        return None
    with _changing(path):
        holder = _read_holder(path) or {}
        FileSystems.delete([path])
    return holder


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


def delete_tmp(state_dir):
    """Deletes STATE/tmp/, the files a run's workers read while it scores (STATE/tmp/<run-id>/), its own or
    those a run that died left: only the run holding the lock uses it."""
    path = FileSystems.join(state_dir, artifacts.STATE_TMP)
    if FileSystems.exists(path):
        FileSystems.delete([path])


def remove_unfinished(state_dir, current):
    """Deletes run folders newer than CURRENT, runs that died before publishing, and what they left in STATE/tmp/.
    Returns their ids."""
    unfinished = [run_id for run_id in run_ids(state_dir) if current is None or run_id > current]
    for run_id in unfinished:
        delete_run(state_dir, run_id)
    delete_tmp(state_dir)
    return unfinished


def prune(state_dir, current, keep):
    """Keeps the `keep` newest published runs (CURRENT always among them); returns the deleted ids."""
    published = [run_id for run_id in run_ids(state_dir) if run_id <= current]
    old = published[:-keep] if keep > 0 else [r for r in published if r != current]
    for run_id in old:
        delete_run(state_dir, run_id)
    return old
