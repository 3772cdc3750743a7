"""Hashes of the paths a pipeline names: files and whole directories, each file read at most once.

Order of shortcuts for a file: this process's memo; the state cache, when (inode, size,
mtime_ns) is unchanged; the git blob id, for clean tracked files when enough bytes would
otherwise be read to make asking git worth it; and only then the file's content.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from mlpipe.state.hashing import dir_hash, hash_file
from mlpipe.state.hashmemo import StateCache

# Asking git costs ~0.1 s (import + two processes); reading costs ~0.1 s per GB. Below this
# many bytes of files to read, reading them is cheaper than asking git.
GIT_MIN_BYTES = 64 << 20

BlobSource = Callable[[list[Path]], dict[Path, str]]


class PathHasher:
    """Content hashes of paths under `root`, memoised in a StateCache."""

    def __init__(self, root: Path, state: StateCache, blobs: BlobSource | None = None,
                 git_min_bytes: int | None = None) -> None:
        self.root = root
        self.state = state
        self.blobs = blobs
        self.git_min_bytes = GIT_MIN_BYTES if git_min_bytes is None else git_min_bytes
        self._files: dict[Path, str] = {}
        self._manifests: dict[Path, list[tuple[str, str]]] = {}
        self.bytes_read = 0

    def full(self, path: str) -> Path:
        return self.root / path

    def hash(self, paths: Iterable[str]) -> dict[str, str | None]:
        """path -> content hash, or None when the path does not exist."""
        paths = list(dict.fromkeys(paths))
        layout: dict[str, list[Path] | Path | None] = {}
        pending: dict[Path, os.stat_result] = {}
        for path in paths:
            full = self.full(path)
            if full.is_dir():
                files = self._walk(full)
                layout[path] = files
            elif full.is_file():
                files = [full]
                layout[path] = full
            else:
                layout[path] = None
                continue
            pending.update((f, f.stat()) for f in files if f not in self._files)
        self._resolve(list(pending.items()))
        result: dict[str, str | None] = {}
        for path, entry in layout.items():
            if entry is None:
                result[path] = None
            elif isinstance(entry, Path):
                result[path] = self._files[entry]
            else:
                result[path] = dir_hash(self.manifest(path, entry))
        return result

    def hash_one(self, path: str) -> str | None:
        return self.hash([path])[path]

    def manifest(self, path: str, files: list[Path] | None = None) -> list[tuple[str, str]]:
        """A directory's files (relative POSIX path, hash), sorted."""
        full = self.full(path)
        if files is None:
            files = self._walk(full)
            self._resolve([(f, f.stat()) for f in files if f not in self._files])
        entries = [(f.relative_to(full).as_posix(), self._files[f]) for f in files]
        self._manifests[full] = entries
        return entries

    def forget(self, paths: Iterable[str]) -> None:
        """Drop memoised hashes of these paths and of everything under them."""
        for path in paths:
            full = self.full(path)
            prefix = f"{full}{os.sep}"
            for memo in (self._files, self._manifests):
                for key in [k for k in memo if k == full or str(k).startswith(prefix)]:
                    del memo[key]

    def remember(self, path: str, digest: str, manifest: list[tuple[str, str]] | None = None
                 ) -> None:
        """Record the hash of a path just written with known content (e.g. restored)."""
        full = self.full(path)
        items = [(full, digest)] if manifest is None else [
            (full / rel, file_digest) for rel, file_digest in manifest]
        for file, file_digest in items:
            self._files[file] = file_digest
            self.state.put(str(file), file.stat(), file_digest)

    @staticmethod
    def _walk(directory: Path) -> list[Path]:
        found: list[Path] = []
        for current, dirs, names in os.walk(directory):
            dirs.sort()
            found.extend(Path(current) / name for name in sorted(names))
        return sorted(found)

    def _resolve(self, pending: list[tuple[Path, os.stat_result]]) -> None:
        misses: list[tuple[Path, os.stat_result]] = []
        for file, st in pending:
            digest = self.state.get(str(file), st)
            if digest is None:
                misses.append((file, st))
            else:
                self._files[file] = digest
        blob_ids: dict[Path, str] = {}
        if self.blobs and sum(st.st_size for _, st in misses) >= self.git_min_bytes:
            blob_ids = self.blobs([file for file, _ in misses])
        for file, st in misses:
            blob = blob_ids.get(file)
            digest = self.state.get_blob(blob) if blob else None
            if digest is None:
                digest = hash_file(file)
                self.bytes_read += st.st_size
                if blob:
                    self.state.put_blob(blob, digest)
            self._files[file] = digest
            self.state.put(str(file), st, digest)
