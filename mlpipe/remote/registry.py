"""The model registry on the remote: its records (see `mlpipe.models.sync`) under
`<root>/registry/<hash>.json`, each written once and never changed.

A push sends the records the remote lacks after the model files they name are there; a pull
fetches the records it lacks, checks each against its name, and merges them all at once.
"""

from __future__ import annotations

from pathlib import Path

from mlpipe.errors import RemoteError
from mlpipe.models import sync
from mlpipe.models.registry import RegistryError
from mlpipe.remote.cache import RemoteStore
from mlpipe.remote.fs import describe


def push_records(remote: RemoteStore, state_dir: Path) -> int:
    """Upload the local registry's records the remote lacks; returns how many.

    Raises:
        RemoteError: The remote cannot be listed or written.
    """
    local = sync.export(state_dir)
    if not local:
        return 0
    missing = sorted(set(local) - remote.record_names())
    for name in missing:
        try:
            remote.upload_record(name, local[name])
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(remote.url, f"registry record {name}: upload failed "
                                          f"({describe(exc)})") from None
    return len(missing)


def pull_records(remote: RemoteStore, state_dir: Path) -> sync.Merged:
    """Fetch the records the local registry lacks and merge them.

    Raises:
        RemoteError: The remote cannot be listed or read, or a record is damaged (then
            nothing is merged).
    """
    remote.probe()
    missing = sorted(remote.record_names() - set(sync.export(state_dir)))
    fetched: dict[str, bytes] = {}
    for name in missing:
        try:
            fetched[name] = remote.download_record(name)
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(remote.url, f"registry record {name}: download failed "
                                          f"({describe(exc)})") from None
    if not fetched:
        return sync.Merged(0, 0)
    try:
        return sync.merge(state_dir, fetched)
    except RegistryError as exc:
        raise RemoteError(remote.url, f"{exc}; nothing was merged") from None
