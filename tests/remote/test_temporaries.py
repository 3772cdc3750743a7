"""Temporary files that killed pushes left in a directory remote's `tmp/`: `push` and
`cache gc --remote` remove those older than an hour, and never a younger one (it may be
another push's upload in progress)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import Invoke

from .conftest import RemoteUnderTest, check_remote_complete, in_clone

HOUR = 3600


def leave(remote: RemoteUnderTest, name: str, age_s: float) -> Path:
    """A temporary file as a killed push leaves it, last written `age_s` seconds ago."""
    path = Path(remote.root) / "tmp" / f"{name}.{'0' * 32}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half of an upload")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_push_removes_temporaries_older_than_an_hour(
        clones: tuple[Path, Path], local_remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, _ = clones
    assert in_clone(mlpipe, a, local_remote, "run").exit_code == 0
    old = leave(local_remote, "a1b2", 2 * HOUR)
    fresh = leave(local_remote, "c3d4", 60)
    pushed = in_clone(mlpipe, a, local_remote, "push")
    assert pushed.exit_code == 0, pushed.output
    assert not old.exists()
    assert fresh.exists()
    check_remote_complete(local_remote)


def test_cache_gc_remote_removes_them_too(
        clones: tuple[Path, Path], local_remote: RemoteUnderTest, mlpipe: Invoke) -> None:
    a, _ = clones
    assert in_clone(mlpipe, a, local_remote, "run").exit_code == 0
    assert in_clone(mlpipe, a, local_remote, "push").exit_code == 0
    old = [leave(local_remote, f"e{i}", HOUR + 60) for i in range(3)]
    fresh = leave(local_remote, "f5", HOUR - 60)
    plain = in_clone(mlpipe, a, local_remote, "cache", "gc")
    assert plain.exit_code == 0, plain.output
    assert all(p.exists() for p in old)  # without --remote the remote is not touched
    cleaned = in_clone(mlpipe, a, local_remote, "cache", "gc", "--remote")
    assert cleaned.exit_code == 0, cleaned.output
    assert f"removed 3 stale temporary files on {local_remote.url}" in cleaned.output
    assert not any(p.exists() for p in old)
    assert fresh.exists()
    check_remote_complete(local_remote)
