"""A fake object store for tests: Beam's LocalFileSystem under the scheme `fakestore://`, rooted in a folder.

`files.is_local` calls such a path remote, so the code paths an object store takes (the lock's best-effort
check, object writes) run against it; the bytes live in `FakeStore.root`."""
import os
import shutil

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

PREFIX = 'fakestore://'


class FakeStore(LocalFileSystem):
    root = None  # set by the test: the local folder that holds the store's objects

    @classmethod
    def scheme(cls):
        return 'fakestore'

    def _local(self, path):
        return self.root.rstrip('/') + '/' + path[len(PREFIX):]

    def _remote(self, path):
        return PREFIX + path[len(self.root.rstrip('/')) + 1:]

    def join(self, basepath, *paths):
        return '/'.join([basepath.rstrip('/'), *(p.strip('/') for p in paths)])

    def split(self, path):
        head, _, tail = path.rstrip('/').rpartition('/')
        return head, tail

    def mkdirs(self, path):
        super().mkdirs(self._local(path))

    def _list(self, dir_or_prefix):
        """Every object whose name starts with the prefix, as an object store lists: folders are not objects."""
        for folder, _, names in os.walk(self.root):
            for name in names:
                local = os.path.join(folder, name)
                if self._remote(local).startswith(dir_or_prefix):
                    yield FileMetadata(self._remote(local), os.path.getsize(local), os.path.getmtime(local))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        super().copy([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def rename(self, sources, destinations):
        for destination in destinations:  # an object's name needs no folder to exist
            os.makedirs(os.path.dirname(self._local(destination)), exist_ok=True)
        super().rename([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def exists(self, path):
        return super().exists(self._local(path))

    def size(self, path):
        return super().size(self._local(path))

    def last_updated(self, path):
        return super().last_updated(self._local(path))

    def checksum(self, path):
        return super().checksum(self._local(path))

    def metadata(self, path):
        found = super().metadata(self._local(path))
        return FileMetadata(path, found.size_in_bytes, found.last_updated_in_seconds)

    def delete(self, paths):
        for path in paths:  # not through match(), which this class answers in remote paths
            local = self._local(path)
            if os.path.isdir(local):
                shutil.rmtree(local)
            else:
                os.remove(local)
