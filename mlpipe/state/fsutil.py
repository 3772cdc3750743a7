"""Writing files so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def _temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`.

    `durable` fsyncs before the rename, so the new content survives a power cut too. Cache
    entries skip it: each is checked when read, and a bad one is only a cache miss.
    """
    tmp = _temp_beside(path)
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def fsync_file(path: Path) -> None:
    """Flush a file's content to disk (after non-durable atomic writes of it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_copy(src: Path, dest: Path) -> Path:
    """Copy `src` to a temporary file beside `dest` and return it (the caller renames it)."""
    tmp = _temp_beside(dest)
    try:
        shutil.copyfile(src, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def remove(path: Path) -> None:
    """Remove a file, a symlink or a directory tree; nothing when it does not exist."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def replace_tree(tmp: Path, dest: Path) -> None:
    """Put the directory `tmp` where `dest` is, removing what `dest` held."""
    if dest.exists() or dest.is_symlink():
        old = _temp_beside(dest, ".old")
        old.unlink()
        os.replace(dest, old)
        os.replace(tmp, dest)
        remove(old)
    else:
        os.replace(tmp, dest)
