"""A content-addressed store of every output mlpipe recorded, under `.mlpipe/cache/objects`.

An object lives at `objects/ab/cdef...` named by its hash; a directory is stored as its
files plus a manifest object named `<hash>.dir`. Objects are written to a temporary file and
renamed, so a killed write leaves no object; every restore checks the bytes against the name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path

from mlpipe.errors import CacheCorrupt, CacheWriteError
from mlpipe.state.fsutil import atomic_copy, atomic_write_bytes, remove, replace_tree
from mlpipe.state.hashing import copy_hashing, hash_bytes, hash_file, is_dir_hash, manifest_bytes
from mlpipe.state.recordcheck import paths_problem

Manifest = list[tuple[str, str]]


class MissingObject(LookupError):
    """The store has no object of that hash."""


class ObjectStore:
    """Put, check and restore outputs by content hash."""

    def __init__(self, objects_dir: Path) -> None:
        self.objects_dir = objects_dir

    def path_of(self, digest: str) -> Path:
        return self.objects_dir / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        """Whether the object (and, for a directory, each of its files) is present."""
        if not self.path_of(digest).is_file():
            return False
        if is_dir_hash(digest):
            try:
                manifest = self._parse_manifest(digest)
            except CacheCorrupt:  # there but damaged, like a bad file: restore reports it
                return True
            return all(self.path_of(d).is_file() for _, d in manifest)
        return True

    def has_all(self, outs: Mapping[str, str | None]) -> bool:
        return all(digest is not None and self.has(digest) for digest in outs.values())

    def put_file(self, src: Path, digest: str) -> None:
        """Store a file under its digest (nothing to do when the object is already there).

        Raises:
            CacheWriteError: The object cannot be written (disk full, read-only cache...).
        """
        dest = self.path_of(digest)
        if dest.is_file():
            return
        try:
            tmp = atomic_copy(src, dest)
        except OSError as exc:
            if exc.filename is not None and Path(exc.filename) == src:
                raise  # the source cannot be read: not the cache's fault
            raise CacheWriteError(dest, exc) from None
        try:
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise CacheWriteError(dest, exc) from None

    def ingest(self, src: Path) -> str:
        """Store a file whose hash is not known yet, hashing it as it is copied (one read).

        Raises:
            CacheWriteError: The object cannot be written.
        """
        try:
            self.objects_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".ingest.", dir=self.objects_dir)
        except OSError as exc:
            raise CacheWriteError(self.objects_dir, exc) from None
        os.close(fd)
        tmp = Path(name)
        try:
            digest = copy_hashing(src, tmp)
            dest = self.path_of(digest)
            if not dest.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o444)
                os.replace(tmp, dest)
        except OSError as exc:
            if exc.filename is not None and Path(exc.filename) == src:
                raise  # the source cannot be read: not the cache's fault
            raise CacheWriteError(self.objects_dir, exc) from None
        finally:
            tmp.unlink(missing_ok=True)
        return digest

    def put_manifest(self, manifest: Manifest, digest: str) -> None:
        """Store a directory's manifest (its files must be stored first).

        Raises:
            CacheWriteError: It cannot be written.
        """
        dest = self.path_of(digest)
        if not dest.is_file():
            try:
                atomic_write_bytes(dest, manifest_bytes(manifest))
            except OSError as exc:
                raise CacheWriteError(dest, exc) from None

    def put_tree(self, src: Path, manifest: Manifest, digest: str) -> None:
        """Store a directory's files, then its manifest (so a manifest is never incomplete).

        Raises:
            CacheWriteError: An object cannot be written.
        """
        for rel, file_digest in manifest:
            self.put_file(src / rel, file_digest)
        self.put_manifest(manifest, digest)

    def read_manifest(self, digest: str) -> Manifest:
        """A directory's files and their digests.

        Raises:
            CacheCorrupt: The manifest does not match its hash (it is removed).
        """
        try:
            return self._parse_manifest(digest)
        except CacheCorrupt:
            self._discard(digest)
            raise

    def _parse_manifest(self, digest: str) -> Manifest:
        path = self.path_of(digest)
        data = path.read_bytes()
        if hash_bytes(data) + ".dir" != digest:
            raise CacheCorrupt(path, "directory manifest does not match its hash")
        manifest = [(rel, file_digest) for rel, file_digest in json.loads(data)]
        problem = paths_problem(rel for rel, _ in manifest)
        if problem is not None:
            raise CacheCorrupt(path, f"directory manifest: {problem}")
        return manifest

    def restore(self, digest: str, dest: Path, executable: AbstractSet[str] = frozenset()
                ) -> Manifest | None:
        """Write the object to `dest` (verified) and return its manifest for a directory.

        Args:
            digest: The object.
            dest: Where to write it.
            executable: Files to make executable (mode 0755; others get 0644): for a file
                `""` (the file itself), for a directory the members' relative paths.

        Raises:
            MissingObject: The store lacks the object or one of a directory's files.
            CacheCorrupt: An object's bytes do not match its hash (the object is removed).
        """
        if not self.path_of(digest).is_file():
            raise MissingObject(digest)
        if not is_dir_hash(digest):
            tmp = self._verified_copy(digest, dest, "" in executable)
            if dest.is_dir():
                replace_tree(tmp, dest)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, dest)
            return None
        manifest = self.read_manifest(digest)
        staging = dest.parent / f".{dest.name}.restore"
        remove(staging)
        try:
            for rel, file_digest in manifest:
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._verified_copy(file_digest, target, rel in executable),
                           target)
            staging.mkdir(parents=True, exist_ok=True)
            replace_tree(staging, dest)
        finally:
            remove(staging)
        return manifest

    def _verified_copy(self, digest: str, dest: Path, executable: bool = False) -> Path:
        source = self.path_of(digest)
        if not source.is_file():
            raise MissingObject(digest)
        tmp = atomic_copy(source, dest)
        os.chmod(tmp, 0o755 if executable else 0o644)
        if hash_file(tmp) != digest:
            tmp.unlink()
            self._discard(digest)
            raise CacheCorrupt(source, "content does not match its hash")
        return tmp

    def _discard(self, digest: str) -> None:
        with contextlib.suppress(OSError):  # a read-only cache keeps it; it is still refused
            self.path_of(digest).unlink(missing_ok=True)
