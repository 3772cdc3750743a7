"""Loading a model file only after its bytes match the hash recorded for it.

joblib unpickles, and unpickling runs code, so a swapped or damaged model file must be
refused before it is loaded. The file is read once; those same bytes are hashed and then
unpickled, so nothing can change the file between the check and the load.

This module imports nothing from mlpipe, so bundles can ship it as is. `digest_of` must stay
equal to `mlpipe.state.hashing.hash_bytes` (xxHash's XXH3-128, hex), which records the hashes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or its bytes differ from the recorded hash.

    Attributes:
        path: The model file.
        expected: The recorded hash (None when the file could not be read).
        actual: The hash of the file's bytes (None when the file could not be read).
    """

    def __init__(self, message: str, path: Path, expected: str | None = None,
                 actual: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual


def digest_of(data: bytes) -> str:
    """The content hash mlpipe records for a file holding `data`."""
    import xxhash

    return xxhash.xxh3_128_hexdigest(data)


def read_verified(path: Path, expected: str, recorded_by: str) -> bytes:
    """The bytes of `path`, once they hash to `expected`.

    Args:
        path: The model file.
        expected: The hash recorded for it.
        recorded_by: Where that hash was recorded, for the message (e.g. "the registry").

    Returns:
        The file's bytes.

    Raises:
        ModelFileError: The file cannot be read, or its bytes hash to something else.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist", path) from None
    except OSError as exc:
        raise ModelFileError(f"model file {path} cannot be read: {exc.strerror}", path) from None
    actual = digest_of(data)
    if actual != expected:
        raise ModelFileError(
            f"model file {path} does not match its digest: {recorded_by} recorded {expected}, "
            f"the file hashes to {actual} (tampered or corrupt); refusing to load it",
            path, expected, actual)
    return data


def load_bytes(data: bytes) -> Any:
    """Unpickle a model from verified joblib bytes (this runs code: verify first)."""
    import joblib

    return joblib.load(io.BytesIO(data))


def load_verified(path: Path, expected: str, recorded_by: str) -> Any:
    """Load the joblib model in `path` once its bytes match `expected` (see read_verified)."""
    return load_bytes(read_verified(path, expected, recorded_by))
