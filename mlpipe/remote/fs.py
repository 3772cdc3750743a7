"""Opening a remote as an fsspec filesystem, with one-line errors for what a user can fix.

fsspec is imported here and only when a remote is opened, so `import mlpipe`, `mlpipe --help`
and runs without `--pull/--push` never load it. A protocol whose library is missing names the
extra that brings it: `remote 's3://b/p' needs s3fs: pip install 'mlpipe[s3]'`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlpipe.errors import RemoteConfigError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# Object stores where an upload appears whole or not at all (a multipart upload becomes an
# object only when it completes): an interrupted write leaves nothing under the final name,
# so uploads go there directly instead of to a temporary name and a copy (3 requests, not 1).
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
# Protocol -> (module it needs, the mlpipe extra that installs it).
LIBRARIES: Mapping[str, tuple[str, str]] = {
    "s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
}


@dataclass(frozen=True)
class Opened:
    """A remote opened: its filesystem and the root path on it (no protocol).

    Attributes:
        fs: The fsspec filesystem.
        root: Where the remote cache lives on it (`bucket/prefix`, `/abs/dir`).
        url: The URL as the user gave it, for messages.
    """

    fs: AbstractFileSystem
    root: str
    url: str

    @property
    def protocols(self) -> tuple[str, ...]:
        protocol = self.fs.protocol
        return tuple(protocol) if isinstance(protocol, tuple | list) else (protocol,)

    @property
    def local(self) -> bool:
        """Whether the filesystem is this machine's (directories must then be made)."""
        return "file" in self.protocols

    @property
    def atomic_put(self) -> bool:
        """Whether a write appears whole or not at all (see ATOMIC_PUT)."""
        return not ATOMIC_PUT.isdisjoint(self.protocols)


def protocol_of(url: str) -> str:
    """The URL's protocol (`file` for a plain path)."""
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def check_protocol(url: str) -> None:
    """Refuse a URL whose protocol fsspec does not know, or whose library is missing.

    Raises:
        RemoteConfigError: Unknown protocol, or its library cannot be imported.
    """
    import fsspec

    protocol = protocol_of(url)
    if protocol not in fsspec.available_protocols():
        common = "s3://, gs://, az://, sftp://, file:// or a directory path"
        raise RemoteConfigError(f"remote {url!r}: unknown protocol {protocol!r} (use {common})")
    module, extra = LIBRARIES.get(protocol, ("", ""))
    if module:
        try:
            importlib.import_module(module)
        except ImportError:
            raise RemoteConfigError(
                f"remote {url!r} needs {module}: pip install 'mlpipe[{extra}]'") from None


def open_remote(url: str, options: Mapping[str, Any]) -> Opened:
    """The filesystem and root path of a remote; nothing is sent over the network yet.

    Raises:
        RemoteConfigError: Unknown protocol, missing library, or options the filesystem
            does not take.
    """
    import fsspec

    check_protocol(url)
    try:
        fs, root = fsspec.core.url_to_fs(url, **dict(options))
    except ImportError as exc:
        raise RemoteConfigError(f"remote {url!r} needs a library that is not installed "
                                f"({exc})") from None
    except (TypeError, ValueError) as exc:
        raise RemoteConfigError(f"remote {url!r}: cannot use these options ({exc}); check "
                                "`mlpipe remote list` or the pipeline file's remote.options"
                                ) from None
    return Opened(fs, str(root).rstrip("/") or "/", url)


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed remote operation."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
