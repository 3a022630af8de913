"""Atomic publication of a job's output folder.

A job writes into a staging folder beside OUTPUT and, once the pipeline has succeeded, swaps it in with
renames, so readers never see a half-written OUTPUT. On object stores (gs://) a folder cannot be renamed
atomically, so OUTPUT's objects are replaced one by one, in an order that keeps a reader that requires the
marker file (`manifest.json`, or the job's summary) from reading a partial or mixed output:

1. a PUBLISHING tag is written into OUTPUT (a rerun after an interruption knows the folder is ours);
2. the earlier marker is deleted, then every other earlier object: shard names carry the shard count
   (`-of-NNNNN`), so a rerun that writes fewer shards must not leave old ones for `predictions-*` to read;
3. the new objects are moved in, the new marker last, and the tag is deleted.

Between 2 and 3 OUTPUT has no marker: readers wait or fail, they never mix runs. The nightly's runs need none
of this: each is a fresh folder behind CURRENT.
"""
import contextlib
import os
import shutil
import uuid

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files


def check_output(output, marker=artifacts.MANIFEST):
    """Refuses to replace a folder that holds something other than an earlier output of ours: one with its marker
    or, on an object store, the tag of an interrupted publish."""
    if files.is_local(output):
        if os.path.exists(output) and not os.path.isdir(output):
            raise UserError(f'output {output!r} exists and is not a folder')
        present = set(os.listdir(output)) if os.path.isdir(output) else set()
        ours = marker in present
    else:
        present = _objects(output)
        ours = bool({FileSystems.join(output, marker), FileSystems.join(output, artifacts.PUBLISHING)} & present)
    if present and not ours:
        raise UserError(f'output {output!r} exists, is not empty and holds no {marker}: '
                        'refusing to replace it (choose an empty or new folder)')


def staging_path(output):
    """A fresh folder beside OUTPUT for this run to write into."""
    return f'{output.rstrip("/")}.staging-{uuid.uuid4().hex[:8]}'


def publish(staging, output, marker=artifacts.MANIFEST):
    """Makes `staging` the new OUTPUT; the previous OUTPUT, if any, is removed after the swap."""
    if files.is_local(output):
        previous = None
        if os.path.exists(output):
            previous = f'{output.rstrip("/")}.previous-{uuid.uuid4().hex[:8]}'
            os.rename(output, previous)
        os.rename(staging, output)
        if previous:
            shutil.rmtree(previous)
        return
    _replace_objects(staging, output, marker)


def _objects(folder):
    """The paths of every object under `folder` (an object store has no folders to list)."""
    return {m.path for m in FileSystems.match([FileSystems.join(folder, '**')])[0].metadata_list}


def _replace_objects(staging, output, marker):
    """Replaces OUTPUT's objects by STAGING's in the order the module docstring gives."""
    tag = FileSystems.join(output, artifacts.PUBLISHING)
    with FileSystems.create(tag) as f:
        f.write(b'a publish is replacing this folder\n')
    earlier = _objects(output) - {tag}
    earlier_marker = {FileSystems.join(output, marker)} & earlier
    for batch in (sorted(earlier_marker), sorted(earlier - earlier_marker)):
        if batch:
            FileSystems.delete(batch)
    new_marker = FileSystems.join(staging, marker)
    new = sorted(_objects(staging) - {new_marker})
    for batch in (new, [new_marker]):
        FileSystems.rename(batch, [output.rstrip('/') + path[len(staging.rstrip('/')):] for path in batch])
    FileSystems.delete([tag])
    discard(staging)


def discard(staging):
    """Removes a staging folder after a failed run (on an object store, each of its objects)."""
    if not files.is_local(staging):
        leftover = sorted(_objects(staging))
        if leftover:
            FileSystems.delete(leftover)
    if FileSystems.exists(staging):
        FileSystems.delete([staging])


@contextlib.contextmanager
def staged(output, marker=artifacts.MANIFEST):
    """Yields a staging folder for OUTPUT; publishes it when the block succeeds, removes it when not."""
    check_output(output, marker)
    staging = staging_path(output)
    try:
        yield staging
    except BaseException:
        discard(staging)
        raise
    publish(staging, output, marker)
