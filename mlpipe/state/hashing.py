"""Content hashes: files, directory manifests and structured data, all with one function.

The hash is xxHash's XXH3-128: about 10 GB/s on one core here, against 0.7 GB/s for MD5, and
128 bits make accidental collisions out of reach for a build cache. It is not a cryptographic
hash: the cache guards against accidents and stale results, not against an attacker who can
already write to `.mlpipe/`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xxhash

DIR_SUFFIX = ".dir"
CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    """Hex digest of `data`."""
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(path: Path) -> str:
    """Hex digest of a file's content, read in 1 MiB chunks."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashing(src: Path, dest: Path) -> str:
    """Copy `src` to `dest` and return the digest of the bytes, reading `src` once."""
    digest = xxhash.xxh3_128()
    with src.open("rb") as reader, dest.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def canonical_json(obj: Any) -> bytes:
    """`obj` as JSON with sorted keys and no spaces: equal data, equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def dict_hash(obj: Any) -> str:
    """Hash of structured data, independent of key order."""
    return hash_bytes(canonical_json(obj))


def manifest_bytes(entries: Iterable[tuple[str, str]]) -> bytes:
    """The stored form of a directory: its files' relative paths and hashes, sorted."""
    return canonical_json(sorted([path, digest] for path, digest in entries))


def dir_hash(entries: Iterable[tuple[str, str]]) -> str:
    """Hash of a directory from its manifest; it ends in `.dir` to tell it from a file's."""
    return hash_bytes(manifest_bytes(entries)) + DIR_SUFFIX


def is_dir_hash(digest: str) -> bool:
    return digest.endswith(DIR_SUFFIX)
