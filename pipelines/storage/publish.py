"""Atomic publication of a job's output folder.

A job writes into a staging folder beside OUTPUT and, once the pipeline has succeeded, swaps it in with
renames, so readers never see a half-written OUTPUT. On object stores (gs://) a folder cannot be renamed
atomically: files are moved one by one and the marker file (`manifest.json`, or the job's summary) last, so
a reader that requires the marker never reads a partial output.
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
    """Refuses to replace a folder that holds something other than an earlier output of ours."""
    if files.is_local(output) and os.path.isdir(output) and os.listdir(output):
        if not os.path.exists(os.path.join(output, marker)):
            raise UserError(f'output {output!r} exists, is not empty and holds no {marker}: '
                            'refusing to replace it (choose an empty or new folder)')
    elif files.is_local(output) and os.path.exists(output) and not os.path.isdir(output):
        raise UserError(f'output {output!r} exists and is not a folder')


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
    last = FileSystems.join(staging, marker)
    sources = [m.path for m in FileSystems.match([FileSystems.join(staging, '**')])[0].metadata_list]
    ordered = sorted(sources, key=lambda path: path == last)
    FileSystems.rename(ordered, [output.rstrip('/') + path[len(staging.rstrip('/')):] for path in ordered])


def discard(staging):
    """Removes a staging folder after a failed run."""
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
