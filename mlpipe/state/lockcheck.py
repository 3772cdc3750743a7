"""Reading an input only if it is what its producing stage recorded in the lock file.

A kind that unpickles an input (evaluate loads a joblib model, and unpickling runs code)
must not load a file that was swapped after the stage that wrote it finished. When the lock
file records the path as an output of a stage (the file itself, or a directory holding it),
the bytes read must match that record. A path no stage produced is the user's own input,
trusted like the commands the pipeline file runs, and is read as is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlpipe.state import lockfile
from mlpipe.state.hashing import dir_hash, hash_bytes, hash_file


class InputMismatch(ValueError):
    """An input differs from what its producer recorded; the message names both hashes."""


@dataclass(frozen=True)
class Producer:
    """The lock entry that records an input.

    Attributes:
        stage: The stage that produced it.
        out: The output it recorded: the input's path, or a directory that holds it.
        digest: The hash recorded for `out`.
    """

    stage: str
    out: str
    digest: str


def producer_of(lock_file: Path, path: str) -> Producer | None:
    """The stage whose lock entry records `path` (or a directory holding it) as an output.

    Args:
        lock_file: The pipeline's lock file.
        path: A path relative to the pipeline root, as in the lock file.

    Returns:
        The producer, or None when no stage recorded the path.
    """
    for stage, entry in sorted(lockfile.read(lock_file).items()):
        for out, digest in entry.outs.items():
            if path == out or path.startswith(out.rstrip("/") + "/"):
                return Producer(stage, out, digest)
    return None


def _tree_hash(directory: Path) -> tuple[str, dict[str, str]]:
    """A directory's hash as mlpipe records it, and its files' hashes by relative path."""
    files: dict[str, str] = {}
    for current, dirs, names in os.walk(directory):
        dirs.sort()
        for name in names:
            full = Path(current) / name
            files[full.relative_to(directory).as_posix()] = hash_file(full)
    return dir_hash(sorted(files.items())), files


def read_recorded(root: Path, path: str, lock_file: Path | None) -> bytes:
    """The bytes of `root/path`, checked against its producer's record when there is one.

    The file is read once; the bytes returned are the bytes checked.

    Args:
        root: The pipeline root.
        path: The input, relative to `root`.
        lock_file: The pipeline's lock file (None: nothing to check against).

    Returns:
        The file's bytes.

    Raises:
        InputMismatch: The bytes (or their directory) differ from the producer's record.
        OSError: The file cannot be read (FileNotFoundError when it does not exist).
    """
    producer = producer_of(lock_file, path) if lock_file is not None else None
    data = (root / path).read_bytes()
    if producer is None:
        return data
    where = f"{lock_file.name if lock_file else 'the lock file'} (stage '{producer.stage}')"
    restore = f"run `mlpipe run {producer.stage}` to restore it"
    actual = hash_bytes(data)
    if producer.out == path:
        if actual != producer.digest:
            raise InputMismatch(f"{path} does not match its recorded hash: {where} records "
                                f"{producer.digest}, the file hashes to {actual} (tampered or "
                                f"corrupt); refusing to load it; {restore}")
        return data
    tree, files = _tree_hash(root / producer.out)
    if tree != producer.digest or files.get(path[len(producer.out.rstrip("/")) + 1:]) != actual:
        raise InputMismatch(f"{path} does not match its recorded hash: {where} records "
                            f"{producer.digest} for {producer.out}, which hashes to {tree} "
                            f"(tampered or corrupt); refusing to load it; {restore}")
    return data
