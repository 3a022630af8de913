"""Reading and writing single files on any Beam FileSystem (local disk or an object store)."""
import json
import os
import uuid

from apache_beam.io.filesystems import FileSystems

from pipelines.errors import UserError


def is_local(path):
    """Whether `path` is on this machine's file system (not gs://, s3://, ...)."""
    return '://' not in path


def read_bytes(path):
    with FileSystems.open(path, compression_type='uncompressed') as f:
        return f.read()


def read_text(path):
    return read_bytes(path).decode('utf-8')


def read_json(path):
    return json.loads(read_text(path))


def exists(folder, name):
    """Whether `folder` (None: no folder given) holds `name`."""
    return folder is not None and FileSystems.exists(FileSystems.join(folder, name))


def write_bytes(path, data, mime_type='application/octet-stream'):
    """Writes `path` so that a reader sees the old file or the new one, never a part: on a local disk the
    bytes go to a temporary file beside it, synced and renamed over it; an object store writes an object
    in one step."""
    if not is_local(path):
        with FileSystems.create(path, mime_type=mime_type) as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # as FileSystems.create did
    temporary = f'{path}.tmp-{uuid.uuid4().hex[:8]}'
    try:
        with open(temporary, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_text(path, text, mime_type='text/plain'):
    write_bytes(path, text.encode('utf-8'), mime_type)


def write_json(path, data):
    write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + '\n', 'application/json')


def _flag(name):
    return '--' + name.replace('_', '-')


def check_paths(args, folders=(), files=()):
    """UserError (one line, exit 2) when a path flag names the wrong kind of thing: a file where a folder
    belongs, or a folder where a file belongs. `folders` and `files` list attribute names of `args`.
    Whether a path must already exist is the job's own check (it says what is missing); unset flags and
    object-store paths are not checked here. A relative local path becomes absolute in `args`: a runner's
    workers do not run in the launcher's folder."""
    for names, wrong, kind in ((folders, os.path.isfile, 'a folder'), (files, os.path.isdir, 'a file')):
        for name in names:
            path = getattr(args, name)
            if path is not None and is_local(path) and wrong(path):
                raise UserError(f'{_flag(name)} {path!r} is not {kind}')
            if path is not None and is_local(path):
                setattr(args, name, os.path.abspath(path))
