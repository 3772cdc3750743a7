"""Bringing a revision's outputs from the remote by the hashes its lock file records.

A pull request is compared with its base: `pull_at` downloads what the base's lock file
needs into this checkout's cache (`mlpipe pull --rev`), and `objects` fetches single
outputs (the metrics files `metrics diff` reads) when they are not cached here. The remote
is the one this checkout would use; a relative `remote:` resolves against this checkout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mlpipe.errors import MlpipeError
from mlpipe.remote.sync import TransferResult
from mlpipe.spec.model import PipelineSpec
from mlpipe.state.workspace import Workspace


def pull_at(pipeline_file: Path, rev: str, remote: str | None = None,
            targets: tuple[str, ...] = (), jobs: int = 8) -> TransferResult:
    """Download into the local cache what `rev`'s lock file records (for `targets`, or all).

    Raises:
        UsageError: No such revision here (with what to fetch in a shallow clone), no
            pipeline file there, or an unknown target.
        RemoteConfigError: No remote is set, or it cannot be opened.
        RemoteError: The remote cannot be reached.
    """
    from mlpipe.errors import UsageError
    from mlpipe.remote import link
    from mlpipe.revisions import snapshot
    from mlpipe.revisions.revs import commit_of

    pipeline_file = pipeline_file.absolute()
    commit = commit_of(pipeline_file.parent, rev)
    spec = snapshot.spec_at(pipeline_file, rev, commit)
    lock = snapshot.lock_at(pipeline_file, commit, rev)
    unknown = [t for t in targets if t not in spec.names]
    if unknown:
        raise UsageError(f"{rev}: no stage '{unknown[0]}' in {pipeline_file.name} there")
    stages = [s for s in spec.stages if not targets or s.name in targets]
    workspace = Workspace(pipeline_file)
    chosen = link.choose(workspace, spec, remote)
    return link.pull_lock(chosen, link.Local.of(workspace), lock, stages, jobs)


def objects(pipeline_file: Path, spec: PipelineSpec, wanted: Mapping[str, str]) -> str | None:
    """Download the objects `wanted` (digest -> where used) that the remote holds.

    Returns:
        None when all arrived, else why some did not (no remote, unreachable, not there).
    """
    from mlpipe.remote import link
    from mlpipe.remote.sync import pull

    if not wanted:
        return None
    workspace = Workspace(pipeline_file.absolute())
    try:
        remote = link.choose(workspace, spec, None)
        local = link.Local.of(workspace)
        result = pull(remote, local.store, local.runcache, dict(wanted), missing_ok=True)
    except MlpipeError as exc:
        return str(exc)
    if all(local.store.has(digest) for digest in wanted):
        return None
    return f"not on the remote {result.url} either"
