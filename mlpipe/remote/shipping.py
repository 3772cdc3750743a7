"""The coordinator's side of `mlpipe run --worker-files remote`: ship a stage's deps to the
remote before the stage goes to a worker, and land the outputs the worker uploaded (see
`mlpipe.execute.executors.staging` for the round trip, `mlpipe.remote.scratch` for the
worker's side).

Shipping uploads what the remote lacks straight from the workspace, named by the digests the
Scheduler hashed; a file that changed since is refused rather than uploaded under a stale
name. Only deps under the pipeline root can be shipped. The lock file's text goes along, so
kinds that check an input against its producer's record still can.

Landing downloads the outputs into the local store (each checked; what the store holds is not
downloaded again) and restores them into the workspace from there, so each output appears
whole or not at all. When one cannot be brought, none is left in the workspace and the stage
fails. The Scheduler then records the run exactly as after a local one, and it alone writes
the lock file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from mlpipe.errors import CacheCorrupt, RemoteError
from mlpipe.execute.executors.staging import StagedResult
from mlpipe.execute.task import StageTask, TaskOutcome
from mlpipe.remote.cache import RemoteStore, is_digest
from mlpipe.remote.link import Local
from mlpipe.remote.scratch import Shipment, StagingProblem, failed, send
from mlpipe.remote.sync import DEFAULT_JOBS, pull
from mlpipe.spec.refs import escaping_output
from mlpipe.state.fsutil import remove
from mlpipe.state.hashing import dir_hash, is_dir_hash, manifest_bytes
from mlpipe.state.objects import MissingObject
from mlpipe.state.workspace import Workspace

Manifest = list[tuple[str, str]]


class RemoteStaging:
    """Ships deps and lands outputs through one remote (`mlpipe.execute.executors.staging.Staging`).

    Args:
        remote: The remote cache (workers reach the same one).
        workspace: The pipeline's paths.
        local: The local store (outputs land there first) and run-cache.
        manifest_of: A dep directory's files and digests, as the Scheduler's hasher knows
            them (a walk, no re-read of files it hashed).
    """

    def __init__(self, remote: RemoteStore, workspace: Workspace, local: Local,
                 manifest_of: Callable[[str], Manifest]) -> None:
        self.remote = remote
        self.workspace = workspace
        self.local = local
        self.manifest_of = manifest_of

    def ship(self, task: StageTask) -> Shipment | TaskOutcome:
        """Upload the task's deps the remote lacks; the Shipment a worker needs, or a
        failed outcome saying why they cannot be shipped."""
        outside = sorted(path for path in task.stage.deps
                         if Path(path).is_absolute() or path == ".." or path.startswith("../"))
        if outside:
            return failed(task, f"dep {outside[0]} is outside the pipeline root, and "
                                "--worker-files remote ships only what is under it; move it "
                                "under the root, or use --worker-files shared")
        deps = {path: str(digest) for path, digest in task.deps.items() if digest is not None}
        try:
            executable = self._send_deps(deps)
        except StagingProblem as exc:
            return failed(task, str(exc))
        lock = task.lock_file or self.workspace.lock_file
        try:
            lock_text: str | None = lock.read_text(encoding="utf-8")
        except FileNotFoundError:
            lock_text = None
        return Shipment(self.remote, deps, executable, lock.name, lock_text)

    def _send_deps(self, deps: Mapping[str, str]) -> frozenset[str]:
        """Upload deps by digest (directories: their files, then their manifests).

        Returns:
            The shipped files that are executable here (paths relative to the root).

        Raises:
            StagingProblem: A dep changed since it was hashed, or cannot be uploaded.
        """
        root = self.workspace.root
        files: dict[str, Path] = {}
        manifests: dict[str, bytes] = {}
        where: dict[str, str] = {}
        executable: set[str] = set()
        for path, digest in sorted(deps.items()):
            where.setdefault(digest, f"dep {path}")
            if not is_dir_hash(digest):
                files.setdefault(digest, root / path)
                if _executable(root / path):
                    executable.add(path)
                continue
            manifest = self.manifest_of(path)
            if dir_hash(manifest) != digest:
                raise StagingProblem(f"dep {path} changed after it was hashed; it was not "
                                     "sent; run again")
            manifests[digest] = manifest_bytes(manifest)
            for rel, member in manifest:
                files.setdefault(member, root / path / rel)
                where.setdefault(member, f"dep {path}/{rel}")
                if _executable(root / path / rel):
                    executable.add(f"{path}/{rel}")
        send(self.remote, files, manifests, where)
        return frozenset(executable)

    def land(self, task: StageTask, result: StagedResult) -> TaskOutcome:
        """Write the worker's logs where a local run writes them, and bring its outputs into
        the workspace; the outcome to record."""
        task.logs_dir.mkdir(parents=True, exist_ok=True)
        task.stdout_path.write_text(result.stdout, encoding="utf-8")
        task.stderr_path.write_text(result.stderr, encoding="utf-8")
        outcome = result.outcome
        if not outcome.ok:
            return outcome
        problem = self._bring(task, result.outs)
        if problem is None:
            return outcome
        return TaskOutcome(task.stage.name, False, outcome.duration_s, problem)

    def _bring(self, task: StageTask, outs: Mapping[str, str]) -> str | None:
        """Download the outputs into the local store, then restore them into the workspace
        (the Scheduler cleared them before the stage was submitted); why not, or None."""
        stage, root = task.stage, self.workspace.root
        if set(outs) != set(stage.outs) or not all(is_digest(d) for d in outs.values()):
            return (f"the worker reported outputs {sorted(outs)}, not the declared "
                    f"{sorted(stage.outs)}; nothing was kept")
        where = {digest: f"stage '{stage.name}' output {path}" for path, digest in outs.items()}
        try:
            brought = pull(self.remote, self.local.store, self.local.runcache, where,
                           jobs=DEFAULT_JOBS, missing_ok=True)
        except RemoteError as exc:
            return f"cannot bring its outputs: {exc}"
        if brought.failures:
            return (f"cannot bring its outputs from remote '{self.remote.url}': "
                    f"{brought.failures[0]}")
        absent = [path for path, digest in sorted(outs.items())
                  if not self.local.store.has(digest)]
        if absent:
            return (f"output {absent[0]} is not on remote '{self.remote.url}', where the worker "
                    "sent it (removed meanwhile?); run again")
        escape = escaping_output(root, stage.outs)
        if escape:  # a link made while the stage ran elsewhere
            return f"{escape}; its outputs were not restored"
        for path, digest in sorted(outs.items()):
            try:
                self.local.store.restore(digest, root / path)
            except (CacheCorrupt, MissingObject, OSError) as exc:
                for out in stage.outs:  # none of them rather than some
                    remove(root / out)
                return f"cannot restore output {path} from the local cache ({exc})"
        return None


def _executable(path: Path) -> bool:
    """Whether the owner may execute the file (a script a command runs as `./x.sh`)."""
    try:
        return bool(os.stat(path).st_mode & 0o100)
    except OSError:
        return False
