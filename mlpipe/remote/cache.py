"""The remote's objects and run-cache entries, laid out like the local cache:
`<root>/objects/ab/cdef...` and `<root>/runs/ab/<key>.json`.

What arrives is checked, never trusted: an object is uploaded only after its local bytes
match its digest, and downloaded into a temporary file that is hashed before it is renamed
into the local store. An interrupted push leaves no partial object under a real name: writes
go to `<root>/tmp/<name>.<random>` first and are then moved to their final name, except on
object stores whose uploads are atomic anyway (S3, GCS, Azure: see `fs.ATOMIC_PUT`), where
the move would only add a copy and a delete. Existence is checked in bulk, by listings, not
one request per object.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpipe.errors import RemoteError
from mlpipe.remote.fs import Opened, describe
from mlpipe.state.hashing import hash_bytes, hash_file, is_dir_hash
from mlpipe.state.runcache import RunEntry, entry_bytes, parse_entry

DIGEST_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
KEY_RE = re.compile(r"^[0-9a-f]{16,64}$")
LIST_THREADS = 16
FEW_SHARDS = 8  # listed one by one, without estimating the remote's size
SHARDS = 256  # two hex digits
STALE_TEMP_S = 3600.0  # an upload's temporary file older than this was left by a killed push
WHOLE_LISTING_MAX = 20_000  # names: below this, one recursive listing beats 256 requests


class Corrupt(ValueError):
    """Bytes do not match the digest that names them."""


def digest_of(path: Path, directory: bool) -> str:
    """The digest of a stored object's bytes (a manifest's ends in `.dir`)."""
    return hash_bytes(path.read_bytes()) + ".dir" if directory else hash_file(path)


def local_temp(dest: Path) -> Path:
    """A new temporary file beside `dest`, named like the store's (gc removes stale ones)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    return Path(name)


class RemoteStore:
    """Read, write and list one remote cache."""

    def __init__(self, opened: Opened) -> None:
        self.opened = opened
        self.fs = opened.fs
        self.root = opened.root

    @property
    def url(self) -> str:
        return self.opened.url

    def object_path(self, digest: str) -> str:
        return f"{self.root}/objects/{digest[:2]}/{digest[2:]}"

    def entry_path(self, key: str) -> str:
        return f"{self.root}/runs/{key[:2]}/{key}.json"

    def probe(self) -> None:
        """Make one request, so an unreachable remote fails once and early.

        Raises:
            RemoteError: The remote cannot be reached (network, credentials, no bucket...).
        """
        try:
            self.fs.exists(self.root)
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(self.url, f"cannot be reached ({describe(exc)}); check the URL, "
                                        "the network and the credentials") from None

    def existing_objects(self, digests: Iterable[str]) -> set[str]:
        """Which of these objects the remote holds, listed in bulk (see `_listed`).

        Raises:
            RemoteError: A listing failed.
        """
        wanted = set(digests)
        names = self._listed("objects", {d[:2] for d in wanted})
        return {d for d in wanted if (d[:2], d[2:]) in names}

    def existing_entries(self, keys: Iterable[str]) -> set[str]:
        """Which of these run-cache entries the remote holds.

        Raises:
            RemoteError: A listing failed.
        """
        wanted = set(keys)
        names = self._listed("runs", {k[:2] for k in wanted})
        return {k for k in wanted if (k[:2], f"{k}.json") in names}

    def _listed(self, area: str, shards: set[str]) -> set[tuple[str, str]]:
        """(shard, file name) of everything in these shard directories of `area`.

        A few shards are listed one by one (in parallel). For many, one shard is listed
        first to estimate the remote's size: a small remote is then listed whole in one
        recursive listing (one request per 1,000 names on S3), a large one shard by shard.
        """
        if not shards:
            return set()
        ordered = sorted(shards)
        if len(ordered) <= FEW_SHARDS:
            return self._each_shard(area, ordered)
        first = self._shard(area, ordered[0])
        if len(first) * SHARDS <= WHOLE_LISTING_MAX:
            return {name for name in self._whole(area) if name[0] in shards}
        return set(first) | self._each_shard(area, ordered[1:])

    def _each_shard(self, area: str, shards: list[str]) -> set[tuple[str, str]]:
        with ThreadPoolExecutor(min(LIST_THREADS, len(shards))) as pool:
            return {name for names in pool.map(lambda s: self._shard(area, s), shards)
                    for name in names}

    def _shard(self, area: str, shard: str) -> list[tuple[str, str]]:
        path = f"{self.root}/{area}/{shard}"
        self.fs.invalidate_cache(path)
        try:
            found = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(self.url, f"cannot list {path} ({describe(exc)})") from None
        return [(shard, str(p).rstrip("/").rsplit("/", 1)[-1]) for p in found]

    def _whole(self, area: str) -> list[tuple[str, str]]:
        path = f"{self.root}/{area}"
        self.fs.invalidate_cache(path)
        try:
            found = self.fs.find(path)
        except FileNotFoundError:
            return []
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(self.url, f"cannot list {path} ({describe(exc)})") from None
        parts = [str(p).rstrip("/").rsplit("/", 2)[-2:] for p in found]
        return [(shard, name) for shard, name in parts]

    def _final_write(self, local: Path | None, data: bytes | None, final: str) -> None:
        """Write a file (or bytes) so that `final` is whole or absent: to a temporary name,
        then moved, unless the store's uploads are atomic."""
        if self.opened.atomic_put:
            if local is not None:
                self.fs.put_file(str(local), final)
            else:
                self.fs.pipe_file(final, data or b"")
            return
        name = final.rsplit("/", 1)[-1]
        tmp = f"{self.root}/tmp/{name}.{uuid.uuid4().hex}"
        if self.opened.local:
            Path(tmp).parent.mkdir(parents=True, exist_ok=True)
            Path(final).parent.mkdir(parents=True, exist_ok=True)
        try:
            if local is not None:
                self.fs.put_file(str(local), tmp)
            else:
                self.fs.pipe_file(tmp, data or b"")
            self.fs.mv(tmp, final)
        except BaseException:
            with contextlib.suppress(Exception):  # best effort: the first error is what counts
                self.fs.rm_file(tmp)
            raise

    def clean_temporaries(self, older_than_s: float = STALE_TEMP_S,
                          now: float | None = None) -> int:
        """Remove what interrupted uploads left under `<root>/tmp/` more than `older_than_s`
        seconds ago (a younger one may be another push's upload in progress).

        Returns:
            How many files were removed.

        Raises:
            RemoteError: `tmp/` cannot be listed.
        """
        path = f"{self.root}/tmp"
        try:
            found = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return 0
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(self.url, f"cannot list {path} ({describe(exc)})") from None
        cutoff = (time.time() if now is None else now) - older_than_s
        removed = 0
        for info in found:
            written = _modified(info)
            if info.get("type") != "file" or written is None or written > cutoff:
                continue
            with contextlib.suppress(FileNotFoundError):  # another cleaner was first
                self.fs.rm_file(info["name"])
                removed += 1
        return removed

    def upload_object(self, local: Path, digest: str) -> int:
        """Upload a local object after checking its bytes; returns its size.

        Raises:
            Corrupt: The local object does not match its digest (it is not uploaded).
            OSError, other backend errors: The upload failed.
        """
        if digest_of(local, is_dir_hash(digest)) != digest:
            raise Corrupt("the local object does not match its hash (truncated or modified); "
                          "not uploaded: `mlpipe cache verify --remove` deletes it")
        size = local.stat().st_size
        self._final_write(local, None, self.object_path(digest))
        return size

    def download_object(self, digest: str, dest: Path) -> int:
        """Download an object into `dest` (the local store's path) if its bytes match.

        Returns:
            Its size.

        Raises:
            Corrupt: The remote bytes do not match the digest (nothing is stored).
            FileNotFoundError: The remote does not hold it.
            OSError, other backend errors: The download failed.
        """
        tmp = local_temp(dest)
        try:
            self.fs.get_file(self.object_path(digest), str(tmp))
            if digest_of(tmp, is_dir_hash(digest)) != digest:
                raise Corrupt("content on the remote does not match its hash (corrupt or "
                              "truncated); it was not stored")
            os.chmod(tmp, 0o444)
            size = tmp.stat().st_size
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def read_manifest(self, digest: str) -> tuple[bytes, list[str]]:
        """A directory manifest from the remote, checked: its bytes and its files' digests.

        Raises:
            Corrupt: The bytes do not match the digest, or do not parse.
            FileNotFoundError: The remote does not hold it.
        """
        data = self.fs.cat_file(self.object_path(digest))
        if hash_bytes(data) + ".dir" != digest:
            raise Corrupt("directory manifest on the remote does not match its hash (corrupt "
                          "or truncated); it was not stored")
        return data, manifest_digests(data)

    def upload_entry(self, key: str, entry: RunEntry) -> None:
        """Write a run-cache entry (temporary name, then moved)."""
        self._final_write(None, entry_bytes(entry), self.entry_path(key))

    def download_entry(self, key: str) -> RunEntry:
        """A run-cache entry from the remote.

        Raises:
            Corrupt: It does not parse as an entry.
            FileNotFoundError: The remote does not hold it.
        """
        data = self.fs.cat_file(self.entry_path(key))
        try:
            entry = parse_entry(data)
        except ValueError as exc:
            raise Corrupt(f"run-cache entry on the remote is unusable ({exc})") from None
        for path, digest in entry.outs.items():
            if not is_digest(digest) or not safe_relative(path):
                raise Corrupt(f"run-cache entry on the remote names {path!r} -> {digest!r}, "
                              "not an output path and a digest; it was not stored")
        return entry

    def record_names(self) -> set[str]:
        """The names of the registry records on the remote (`<root>/registry/<name>.json`).

        Raises:
            RemoteError: The listing failed.
        """
        path = f"{self.root}/registry"
        self.fs.invalidate_cache(path)
        try:
            found = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return set()
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(self.url, f"cannot list {path} ({describe(exc)})") from None
        names = (str(p).rstrip("/").rsplit("/", 1)[-1] for p in found)
        return {n.removesuffix(".json") for n in names if n.endswith(".json")}

    def upload_record(self, name: str, data: bytes) -> None:
        """Write a registry record (temporary name, then moved)."""
        self._final_write(None, data, f"{self.root}/registry/{name}.json")

    def download_record(self, name: str) -> bytes:
        """A registry record's bytes (the caller checks them against the name)."""
        return bytes(self.fs.cat_file(f"{self.root}/registry/{name}.json"))


def _modified(info: dict[str, Any]) -> float | None:
    """When a listed file was last written (seconds since the epoch), in any of the ways
    fsspec backends say it; None when the listing does not say."""
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
    return None


def is_digest(value: str) -> bool:
    """Whether `value` can name an object (and so a path under the store)."""
    return bool(DIGEST_RE.match(value))


def is_key(value: str) -> bool:
    """Whether `value` can be a stage key (and so name a run-cache entry)."""
    return bool(KEY_RE.match(value))


def safe_relative(path: str) -> bool:
    """Whether an output path from elsewhere stays below the pipeline root."""
    parts = Path(path).parts
    return bool(parts) and not Path(path).is_absolute() and ".." not in parts and \
        "\0" not in path


def manifest_digests(data: bytes) -> list[str]:
    """The file digests a directory manifest lists.

    Raises:
        Corrupt: The bytes are not a manifest.
    """
    try:
        rows = json.loads(data.decode("utf-8"))
        digests = [str(digest) for _, digest in rows]
    except (ValueError, TypeError) as exc:
        raise Corrupt(f"directory manifest does not parse ({exc})") from None
    if not all(DIGEST_RE.match(d) and not is_dir_hash(d) for d in digests):
        raise Corrupt("directory manifest names something that is not a file digest")
    return digests
