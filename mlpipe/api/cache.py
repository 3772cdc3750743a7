"""`mlpipe cache verify|gc` for a pipeline file: the cache beside it, checked or collected."""

from __future__ import annotations

from pathlib import Path

from mlpipe.maintenance import gc as gclib
from mlpipe.maintenance import verify as verifylib
from mlpipe.maintenance.gc import GcResult
from mlpipe.maintenance.verify import VerifyResult
from mlpipe.state.workspace import Workspace

__all__ = ["GcResult", "VerifyResult", "gc", "verify"]


def verify(pipeline_file: Path, remove: bool = False) -> VerifyResult:
    """Rehash every object and parse every run-cache entry of the pipeline's cache."""
    return verifylib.verify(Workspace.for_file(pipeline_file), remove=remove)


def gc(pipeline_file: Path, dry_run: bool = False, all_commits: bool = False) -> GcResult:
    """Remove what no lock file (at every commit with `all_commits`) and no registered model
    version needs from the pipeline's cache."""
    return gclib.gc(Workspace.for_file(pipeline_file), dry_run=dry_run, all_commits=all_commits)
