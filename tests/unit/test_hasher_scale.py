"""What the speed of big directories rests on: an untouched directory reads no file and asks
the hash memo once, and one changed file among 100,000 is the only file read again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlpipe.state.filehash import PathHasher
from mlpipe.state.hashmemo import StateCache

FILES = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str | None]:
    """A directory of 100,000 small files, hashed once: (root, memo database, its hash)."""
    root = tmp_path_factory.mktemp("big")
    for shard in range(100):
        folder = root / "images" / f"{shard:02d}"
        folder.mkdir(parents=True)
        for n in range(FILES // 100):
            (folder / f"{n:04d}.txt").write_bytes(b"%d-%d\n" % (shard, n))
    db = root / "state.db"
    digest, hasher = hash_fresh(root, db)
    assert hasher.bytes_read > 0
    return root, db, digest


class CountingCache(StateCache):
    """A StateCache that counts its single-row queries."""

    queries = 0

    def _query(self, sql: str, args: tuple[str, ...]) -> tuple | None:
        CountingCache.queries += 1
        return super()._query(sql, args)


def hash_fresh(root: Path, db: Path) -> tuple[str | None, PathHasher]:
    """Hash `images` as a new process would: a new hasher on the same memo database."""
    state = CountingCache(db)
    hasher = PathHasher(root, state)
    digest = hasher.hash_one("images")
    state.close()
    return digest, hasher


def test_an_untouched_directory_reads_no_file_and_asks_the_memo_once(
        big: tuple[Path, Path, str | None]) -> None:
    root, db, first = big
    CountingCache.queries = 0
    again, hasher = hash_fresh(root, db)
    assert again == first
    assert hasher.bytes_read == 0
    assert CountingCache.queries == 0  # every file answered by the one range query


def test_one_changed_file_among_100000_is_the_only_one_read(
        big: tuple[Path, Path, str | None]) -> None:
    root, db, first = big
    changed = root / "images" / "42" / "0007.txt"
    before = changed.read_bytes()
    changed.write_bytes(b"a new line\n")
    try:
        second, hasher = hash_fresh(root, db)
        assert second != first
        assert hasher.bytes_read == len(b"a new line\n")
    finally:
        changed.write_bytes(before)
        os.utime(changed, ns=(1, 1))  # a new mtime: the next hash reads it again, finds `before`
    third, hasher = hash_fresh(root, db)
    assert third == first and hasher.bytes_read == len(before)
