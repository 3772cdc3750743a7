"""Hashes of the paths a pipeline names: files and whole directories, each file read at most once.

Order of shortcuts for a file: this process's memo; the state cache, when (inode, size,
mtime_ns) is unchanged; the git blob id, for clean tracked files when enough bytes would
otherwise be read to make asking git worth it; and only then the file's content.

A directory costs one `os.scandir` walk (string paths, one `stat` per file) and one range
query of the state cache for everything below it, so an untouched directory of 100,000 files
reads no file and makes no per-file query. Paths are plain strings inside: building a `Path`
per file costs more than the stat.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from mlpipe.state.hashing import dir_hash, hash_file
from mlpipe.state.hashmemo import StateCache

# Asking git costs ~0.1 s (import + two processes); reading costs ~0.1 s per GB. Below this
# many bytes of files to read, reading them is cheaper than asking git.
GIT_MIN_BYTES = 64 << 20

BlobSource = Callable[[list[Path]], dict[Path, str]]
Found = list[tuple[str, os.stat_result]]  # (absolute path, its stat), for the files of a walk


class PathHasher:
    """Content hashes of paths under `root`, memoised in a StateCache."""

    def __init__(self, root: Path, state: StateCache, blobs: BlobSource | None = None,
                 git_min_bytes: int | None = None) -> None:
        self.root = root
        self.state = state
        self.blobs = blobs
        self.git_min_bytes = GIT_MIN_BYTES if git_min_bytes is None else git_min_bytes
        self._root = os.fspath(root)
        self._files: dict[str, str] = {}  # absolute file path -> hash
        self._dirs: dict[str, list[str]] = {}  # absolute directory -> its files, from a walk
        self._manifests: dict[str, list[tuple[str, str]]] = {}
        self._above_loose: set[str] = set()  # directories holding a file hashed on its own
        self.bytes_read = 0

    def full(self, path: str) -> Path:
        return self.root / path

    def _abs(self, path: str) -> str:
        return os.path.join(self._root, path)

    def hash(self, paths: Iterable[str]) -> dict[str, str | None]:
        """path -> content hash, or None when the path does not exist."""
        layout: dict[str, list[str] | str | None] = {}
        pending: dict[str, os.stat_result] = {}
        for path in dict.fromkeys(paths):
            full = self._abs(path)
            try:
                info = os.stat(full)
            except OSError:
                layout[path] = None
                continue
            if stat.S_ISDIR(info.st_mode):
                found = self._walk(full)
                layout[path] = [name for name, _ in found]
                self.state.preload(full)
                pending.update(item for item in found if item[0] not in self._files)
            elif stat.S_ISREG(info.st_mode):
                layout[path] = full
                if full not in self._files:
                    pending[full] = info
                    self._note_loose(full)
            else:
                layout[path] = None
        self._resolve(list(pending.items()))
        result: dict[str, str | None] = {}
        for path, entry in layout.items():
            if entry is None:
                result[path] = None
            elif isinstance(entry, str):
                result[path] = self._files[entry]
            else:
                result[path] = dir_hash(self._manifest_of(self._abs(path), entry))
        return result

    def hash_one(self, path: str) -> str | None:
        return self.hash([path])[path]

    def manifest(self, path: str) -> list[tuple[str, str]]:
        """A directory's files (relative POSIX path, hash), sorted, as the directory is now
        (walked again; files already hashed in this process are not read again)."""
        full = self._abs(path)
        found = self._walk(full)
        self.state.preload(full)
        self._resolve([item for item in found if item[0] not in self._files])
        return self._manifest_of(full, [name for name, _ in found])

    def _manifest_of(self, full: str, files: list[str]) -> list[tuple[str, str]]:
        cut = len(full) + 1
        entries = sorted((name[cut:].replace(os.sep, "/"), self._files[name]) for name in files)
        self._manifests[full] = entries
        return entries

    def forget(self, paths: Iterable[str]) -> None:
        """Drop memoised hashes of these paths and of everything under them.

        A path that was only ever a file costs one lookup; everything below a path is looked
        for only when a walk or a file hashed on its own put something there.
        """
        for path in paths:
            full = self._abs(path)
            self._files.pop(full, None)
            self._manifests.pop(full, None)
            walked = self._dirs.pop(full, None)
            if walked is None and full not in self._above_loose:
                continue
            prefix = full + os.sep
            for name in walked or ():
                self._files.pop(name, None)
            for memo in (self._files, self._dirs, self._manifests):
                for key in [k for k in memo if k.startswith(prefix)]:
                    del memo[key]
            self._above_loose = {d for d in self._above_loose
                                 if d != full and not d.startswith(prefix)}

    def remember(self, path: str, digest: str, manifest: list[tuple[str, str]] | None = None
                 ) -> None:
        """Record the hash of a path just written with known content (e.g. restored)."""
        full = self._abs(path)
        if manifest is None:
            items = [(full, digest)]
            self._note_loose(full)
        else:
            items = [(os.path.join(full, rel), file_digest) for rel, file_digest in manifest]
            self._dirs[full] = [name for name, _ in items]
        for file, file_digest in items:
            self._files[file] = file_digest
            self.state.put(file, os.stat(file), file_digest)

    def _note_loose(self, file: str) -> None:
        parent = os.path.dirname(file)
        while len(parent) > len(self._root) and parent not in self._above_loose:
            self._above_loose.add(parent)
            parent = os.path.dirname(parent)

    def _walk(self, directory: str) -> Found:
        """Every file below `directory` with its stat. Like `os.walk`, a link to a directory
        is not followed; a link to a file counts as the file."""
        found: Found = []
        stack = [directory]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            stack.append(entry.path)
                    else:
                        found.append((entry.path, entry.stat()))
        found.sort()
        self._dirs[directory] = [name for name, _ in found]
        return found

    def _resolve(self, pending: Found) -> None:
        misses: Found = []
        for file, st in pending:
            digest = self.state.get(file, st)
            if digest is None:
                misses.append((file, st))
            else:
                self._files[file] = digest
        blob_ids: dict[Path, str] = {}
        if self.blobs and sum(st.st_size for _, st in misses) >= self.git_min_bytes:
            blob_ids = self.blobs([Path(file) for file, _ in misses])
        for file, st in misses:
            blob = blob_ids.get(Path(file)) if blob_ids else None
            digest = self.state.get_blob(blob) if blob else None
            if digest is None:
                digest = hash_file(Path(file))
                self.bytes_read += st.st_size
                if blob:
                    self.state.put_blob(blob, digest)
            self._files[file] = digest
            self.state.put(file, st, digest)
