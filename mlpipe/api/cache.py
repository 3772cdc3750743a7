"""`mlpipe cache verify|gc` for a pipeline file: the cache beside it, checked or collected."""

from __future__ import annotations

from pathlib import Path

from mlpipe.maintenance import gc as gclib
from mlpipe.maintenance import verify as verifylib
from mlpipe.maintenance.gc import GcResult
from mlpipe.maintenance.verify import VerifyResult
from mlpipe.state.workspace import Workspace

__all__ = ["GcResult", "VerifyResult", "clean_remote", "gc", "verify"]


def verify(pipeline_file: Path, remove: bool = False) -> VerifyResult:
    """Rehash every object and parse every run-cache entry of the pipeline's cache."""
    return verifylib.verify(Workspace.for_file(pipeline_file), remove=remove)


def gc(pipeline_file: Path, dry_run: bool = False, all_commits: bool = False) -> GcResult:
    """Remove what no lock file (at every commit with `all_commits`) and no registered model
    version needs from the pipeline's cache."""
    return gclib.gc(Workspace.for_file(pipeline_file), dry_run=dry_run, all_commits=all_commits)


def clean_remote(pipeline_file: Path, remote: str | None = None) -> tuple[str, int]:
    """Remove the temporary files interrupted pushes left on the remote (`remote`: a name or
    URL; None: the default) over an hour ago.

    Returns:
        The remote's URL and how many files were removed.

    Raises:
        RemoteConfigError: No remote is set, or it cannot be opened.
        RemoteError: The remote cannot be reached.
    """
    from mlpipe.api import load
    from mlpipe.remote import link

    loaded = load(pipeline_file)
    store = link.choose(loaded.workspace, loaded.spec, remote)
    store.probe()
    return store.url, store.clean_temporaries()
