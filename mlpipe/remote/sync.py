"""Push and pull what a lock file needs: its stages' outputs (a directory's files, then its
manifest) and their run-cache entries.

Content-addressed both ways: what the other side holds is skipped, found by listing shard
directories in bulk. Transfers run on a thread pool; each object is checked against its
digest (see `mlpipe.remote.cache`). A run-cache entry moves only after every object it names
is in place, so a destination never holds an entry whose outputs are missing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from mlpipe.errors import RemoteError
from mlpipe.remote.cache import Corrupt, RemoteStore, is_digest, is_key, manifest_digests
from mlpipe.remote.fs import describe
from mlpipe.spec.model import StageSpec
from mlpipe.state.fsutil import atomic_write_bytes
from mlpipe.state.hashing import hash_bytes, is_dir_hash
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import RunCache, RunEntry, can_cache

DEFAULT_JOBS = 8
T = TypeVar("T")


@dataclass(frozen=True)
class Wanted:
    """What to move.

    Attributes:
        objects: Digest -> where it is used, for messages (`stage 'train' output model.pkl`).
        entries: Stage key -> its run-cache entry (as the lock file records it).
    """

    objects: Mapping[str, str] = field(default_factory=dict)
    entries: Mapping[str, RunEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferFailure:
    """One thing that did not move: an object's digest or `run-cache entry <key>`, where it
    is used, and why."""

    name: str
    where: str
    reason: str

    def __str__(self) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"{self.name}{where}: {self.reason}"


@dataclass(frozen=True)
class TransferResult:
    """A push or pull.

    Attributes:
        direction: `push` or `pull`.
        url: The remote.
        objects: Objects sent (push) or received (pull).
        present: Objects the destination already held.
        bytes: Bytes of the objects moved.
        entries: Run-cache entries moved.
        seconds: Wall time.
        failures: What did not move, and why.
        reached: False when the remote could not be reached at all (one failure says why).
    """

    direction: str
    url: str
    objects: int = 0
    present: int = 0
    bytes: int = 0
    entries: int = 0
    seconds: float = 0.0
    failures: tuple[TransferFailure, ...] = ()
    reached: bool = True

    @property
    def ok(self) -> bool:
        return not self.failures


def wanted(lock: Mapping[str, LockEntry], stages: Iterable[StageSpec]) -> Wanted:
    """The objects and run-cache entries the lock file records for these stages."""
    objects: dict[str, str] = {}
    entries: dict[str, RunEntry] = {}
    for stage in stages:
        entry = lock.get(stage.name)
        if entry is None:
            continue
        for path, digest in sorted(entry.outs.items()):
            objects.setdefault(str(digest), f"stage '{stage.name}' output {path}")
        if entry.outs and can_cache(stage) and is_key(entry.key):
            entries[entry.key] = RunEntry(dict(entry.outs), entry.commit)
    return Wanted(objects, entries)


def _each(jobs: int, items: list[T], work: Callable[[T], object]) -> None:
    """`work` on every item, `jobs` at a time; on Ctrl-C, what has not started never does."""
    if not items:
        return
    pool = ThreadPoolExecutor(max(1, min(jobs, len(items))))
    try:
        for _ in pool.map(work, items):
            pass
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Tally:
    """Counts and failures gathered from worker threads (list.append is atomic)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.entries: list[str] = []
        self.failures: list[TransferFailure] = []
        self.failed: set[str] = set()

    def fail(self, name: str, where: str, reason: str) -> None:
        self.failed.add(name)
        self.failures.append(TransferFailure(name, where, reason))

    def result(self, direction: str, url: str, present: int, started: float) -> TransferResult:
        return TransferResult(direction, url, len(self.sizes), present, sum(self.sizes),
                              len(self.entries), round(time.perf_counter() - started, 3),
                              tuple(sorted(self.failures, key=lambda f: f.name)))


def _checked(objects: Mapping[str, str], tally: _Tally) -> dict[str, str]:
    """The objects whose names are digests; the others are failures (a hand-edited lock)."""
    for name in [d for d in objects if not is_digest(d)]:
        tally.fail(name, objects[name], "not an object digest; fix or regenerate the lock file")
    return {d: where for d, where in objects.items() if is_digest(d)}


def _failure_reason(exc: BaseException, action: str) -> str:
    return str(exc) if isinstance(exc, Corrupt) else f"{action} failed ({describe(exc)})"


def _local_problem(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return ("not in the local cache; run the stage (or pull it from where it was made) "
                "before pushing")
    if isinstance(exc, Corrupt):
        return str(exc)
    return f"local object unreadable ({describe(exc)})"


def _local_manifest(store: ObjectStore, digest: str) -> tuple[bytes, list[str]]:
    """A manifest from the local store, checked against its digest.

    Raises:
        OSError: It cannot be read.
        Corrupt: It does not match its digest or does not parse.
    """
    data = store.path_of(digest).read_bytes()
    if hash_bytes(data) + ".dir" != digest:
        raise Corrupt("the local directory manifest does not match its hash; not uploaded: "
                      "`mlpipe cache verify --remove` deletes it")
    return data, manifest_digests(data)


def push(remote: RemoteStore, store: ObjectStore, what: Wanted,
         jobs: int = DEFAULT_JOBS) -> TransferResult:
    """Upload the objects and entries the remote lacks (files, then manifests, then entries).

    Raises:
        RemoteError: The remote cannot be reached or listed.
    """
    started = time.perf_counter()
    if not what.objects and not what.entries:
        return TransferResult("push", remote.url)  # nothing to send: no request either
    remote.probe()
    with contextlib.suppress(RemoteError):  # tidying up must not stop the push
        remote.clean_temporaries()
    tally = _Tally()
    where = _checked(what.objects, tally)
    members: dict[str, list[str]] = {}
    for digest in [d for d in where if is_dir_hash(d)]:
        try:
            members[digest] = _local_manifest(store, digest)[1]
        except (OSError, Corrupt) as exc:
            tally.fail(digest, where[digest], _local_problem(exc))
            continue
        for member in members[digest]:
            where.setdefault(member, f"in {where[digest]}")
    there = remote.existing_objects(where)
    to_send = [d for d in where if d not in there and d not in tally.failed]

    def send(digest: str) -> None:
        try:
            tally.sizes.append(remote.upload_object(store.path_of(digest), digest))
        except (Corrupt, FileNotFoundError) as exc:
            tally.fail(digest, where[digest], _local_problem(exc))
        except Exception as exc:  # fsspec backends raise their own errors
            tally.fail(digest, where[digest], _failure_reason(exc, "upload"))

    _each(jobs, [d for d in to_send if not is_dir_hash(d)], send)
    dirs = [d for d in to_send if is_dir_hash(d)]
    tally.failed.update(d for d in dirs if any(m in tally.failed for m in members[d]))
    _each(jobs, [d for d in dirs if d not in tally.failed], send)
    entries = {key: entry for key, entry in what.entries.items()
               if not any(d in tally.failed for d in entry.outs.values())}
    entries_there = remote.existing_entries(entries)

    def send_entry(key: str) -> None:
        try:
            remote.upload_entry(key, entries[key])
            tally.entries.append(key)
        except Exception as exc:  # fsspec backends raise their own errors
            tally.fail(f"run-cache entry {key}", "", _failure_reason(exc, "upload"))

    _each(jobs, [k for k in entries if k not in entries_there], send_entry)
    return tally.result("push", remote.url, len(there), started)


def pull(remote: RemoteStore, store: ObjectStore, runcache: RunCache,
         objects: Mapping[str, str], keys: Iterable[str] = (), jobs: int = DEFAULT_JOBS,
         missing_ok: bool = False) -> TransferResult:
    """Download the objects and entries the local cache lacks; the work tree is untouched.

    Entries come first (the local one for a key, else the remote's), since the objects they
    name are wanted too; a downloaded entry is stored only once all its objects are in the
    local store. Directories: files first, then the manifest.

    Args:
        remote: The remote cache.
        store: The local object store.
        runcache: The local run-cache.
        objects: Digest -> where it is used (for messages).
        keys: Stage keys whose run-cache entries to bring (with the objects they name).
        jobs: Downloads at once.
        missing_ok: What the remote lacks is no failure (a run-cache lookup that misses).

    Raises:
        RemoteError: The remote cannot be reached or listed.
    """
    started = time.perf_counter()
    keys = list(keys)
    if not objects and not keys:
        return TransferResult("pull", remote.url)  # nothing to bring: no request either
    remote.probe()
    tally = _Tally()
    known = {key: entry for key in keys if (entry := runcache.get(key)) is not None}
    entries = _pull_entries(remote, [k for k in keys if k not in known], tally, jobs)
    where = _checked(objects, tally)
    for key, entry in {**known, **entries}.items():
        for path, digest in sorted(entry.outs.items()):
            where.setdefault(digest, f"run-cache entry {key[:12]} output {path}")
    manifests = _pull_manifests(remote, store, [d for d in where if is_dir_hash(d)], where,
                                tally, missing_ok, jobs)
    for digest, (_, listed) in manifests.items():
        for member in listed:
            where.setdefault(member, f"in {where[digest]}")
    present = sum(1 for d in where if store.path_of(d).is_file())
    files = [d for d in where if not is_dir_hash(d) and not store.path_of(d).is_file()]
    there = remote.existing_objects(files)
    for digest in files:
        if digest not in there:
            _missing(tally, digest, where[digest], missing_ok)

    def fetch(digest: str) -> None:
        try:
            tally.sizes.append(remote.download_object(digest, store.path_of(digest)))
        except Exception as exc:  # fsspec backends raise their own errors
            tally.fail(digest, where[digest], _failure_reason(exc, "download"))

    _each(jobs, [d for d in files if d in there], fetch)
    for digest, (data, listed) in manifests.items():
        if not store.path_of(digest).is_file() and not any(m in tally.failed for m in listed):
            atomic_write_bytes(store.path_of(digest), data, durable=False)
            tally.sizes.append(len(data))
    for key, entry in entries.items():
        if store.has_all(entry.outs):
            runcache.put(key, entry)
            tally.entries.append(key)
    return tally.result("pull", remote.url, present, started)


def _missing(tally: _Tally, name: str, where: str, missing_ok: bool) -> None:
    if missing_ok:
        tally.failed.add(name)
    else:
        tally.fail(name, where, "not on the remote; push it from a clone that has it")


def _pull_entries(remote: RemoteStore, keys: list[str], tally: _Tally,
                  jobs: int) -> dict[str, RunEntry]:
    """The remote's entries for these keys, where it has them (checked, not yet stored)."""
    there = remote.existing_entries(keys)
    found: dict[str, RunEntry] = {}

    def fetch(key: str) -> None:
        try:
            found[key] = remote.download_entry(key)
        except Exception as exc:  # fsspec backends raise their own errors
            tally.fail(f"run-cache entry {key}", "", _failure_reason(exc, "download"))

    _each(jobs, sorted(there), fetch)
    return found


def _pull_manifests(remote: RemoteStore, store: ObjectStore, digests: list[str],
                    where: Mapping[str, str], tally: _Tally, missing_ok: bool,
                    jobs: int) -> dict[str, tuple[bytes, list[str]]]:
    """Checked manifests of these directories (from the local store when it has a good one)."""
    manifests: dict[str, tuple[bytes, list[str]]] = {}
    remote_ones = []
    for digest in digests:
        try:
            manifests[digest] = _local_manifest(store, digest)
        except (OSError, Corrupt):
            remote_ones.append(digest)

    def fetch(digest: str) -> None:
        try:
            manifests[digest] = remote.read_manifest(digest)
        except FileNotFoundError:
            _missing(tally, digest, where[digest], missing_ok)
        except Exception as exc:  # fsspec backends raise their own errors
            tally.fail(digest, where[digest], _failure_reason(exc, "download"))

    _each(jobs, remote_ones, fetch)
    return manifests
