"""A stage on a worker that cannot see the project: a scratch directory as its root, its deps
downloaded into it from the remote by digest, the stage run there, its outputs hashed and
uploaded, and the directory removed (see `mlpipe.execute.executors.staging` for the round trip).

Nothing is trusted on the way: a dep is written into the scratch directory only when its bytes
match its digest, and an object is uploaded only when its bytes still match the digest it was
hashed to, to a temporary name first where the store's uploads are not atomic
(`RemoteStore.download_object` and `upload_object`). `send` serves both sides: the coordinator
sends deps with it, a worker sends outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from mlpipe.errors import RemoteError
from mlpipe.execute.executors.staging import Runner, StagedResult
from mlpipe.execute.task import StageTask, TaskOutcome
from mlpipe.remote.cache import Corrupt, RemoteStore, safe_relative
from mlpipe.remote.fs import describe
from mlpipe.state.filehash import PathHasher
from mlpipe.state.hashing import is_dir_hash, manifest_bytes
from mlpipe.state.hashmemo import StateCache

LOG_LIMIT = 1 << 20  # bytes of each log a worker sends back; a longer log keeps its end
THREADS = 8  # transfers at once


class StagingProblem(Exception):
    """A stage's files could not be moved; the message names the path and the reason."""


@dataclass(frozen=True)
class Shipment:
    """A stage's deps on the remote, as a worker needs them (picklable: the remote's fsspec
    filesystem is rebuilt on the worker from its options, with the worker's credentials).

    Attributes:
        remote: The remote cache.
        deps: Dep path (relative to the root) -> digest.
        executable: Dep files, and files in dep directories, that are executable on the
            coordinator (paths relative to the root); the others are written 0644.
        lock_name: The lock file's name; it lies in the root, beside the pipeline file.
        lock_text: The lock file when the stage was shipped (None: there was none).
    """

    remote: RemoteStore
    deps: Mapping[str, str]
    executable: frozenset[str] = frozenset()
    lock_name: str = "mlpipe.lock"
    lock_text: str | None = None

    def run(self, task: StageTask, runner: Runner, scratch_parent: str | None) -> StagedResult:
        """On a worker: run `task` in a new scratch directory, then remove it (see
        `mlpipe.execute.executors.staging.Shipment`)."""
        scratch = Path(tempfile.mkdtemp(prefix=f"mlpipe-{task.stage.name}-", dir=scratch_parent))
        started = time.perf_counter()
        try:
            return self._run_in(scratch, task, runner)
        except Exception as exc:  # a bug or a full disk: the stage fails under its name
            return StagedResult(failed(task, f"on {socket.gethostname()}: "
                                             f"{type(exc).__name__}: {exc}",
                                       time.perf_counter() - started))
        finally:
            remove_scratch(scratch)

    def _run_in(self, scratch: Path, task: StageTask, runner: Runner) -> StagedResult:
        root = scratch / "root"
        root.mkdir()
        here = replace(task, root=root, logs_dir=scratch / "logs",
                       lock_file=root / self.lock_name)
        if self.lock_text is not None:
            (root / self.lock_name).write_text(self.lock_text, encoding="utf-8")
        try:
            self.fetch(root)
        except StagingProblem as exc:
            return StagedResult(failed(task, str(exc)))
        for out in task.stage.outs:  # as the Scheduler does before a stage runs in the root
            (root / out).parent.mkdir(parents=True, exist_ok=True)
        outcome = runner(here)
        logs = log_text(here.stdout_path), log_text(here.stderr_path)
        if not outcome.ok:
            return StagedResult(outcome, {}, *logs)
        try:
            outs = send_outputs(self.remote, root, task.stage.outs, scratch / "state.db")
        except StagingProblem as exc:
            return StagedResult(failed(task, str(exc), outcome.duration_s), {}, *logs)
        return StagedResult(outcome, outs, *logs)

    def fetch(self, root: Path) -> None:
        """Download every dep into `root`, each file checked against its digest.

        Raises:
            StagingProblem: A dep is not on the remote, does not match its digest, or
                cannot be downloaded.
        """
        files: dict[Path, tuple[str, str]] = {}  # destination -> (digest, dep it belongs to)
        for path, digest in sorted(self.deps.items()):
            if not is_dir_hash(digest):
                files[root / path] = (digest, path)
                continue
            (root / path).mkdir(parents=True, exist_ok=True)
            for rel, member in self._manifest(path, digest):
                files[root / path / rel] = (member, path)

        def fetch_one(dest: Path) -> None:
            digest, dep = files[dest]
            with self._fetching(dep, "it is not on the remote (removed meanwhile?); run again"):
                self.remote.download_object(digest, dest)
            executable = dest.relative_to(root).as_posix() in self.executable
            os.chmod(dest, 0o755 if executable else 0o644)

        each(list(files), fetch_one)

    def _manifest(self, path: str, digest: str) -> list[tuple[str, str]]:
        """A dep directory's files (relative path, digest), checked against its digest."""
        with self._fetching(path, "its directory manifest is not on the remote; run again"):
            data, _ = self.remote.read_manifest(digest)
            rows = [(str(rel), str(member)) for rel, member in json.loads(data)]
        bad = [rel for rel, _ in rows if not safe_relative(rel)]
        if bad:
            raise StagingProblem(self._problem(path, f"its manifest names {bad[0]!r}, which "
                                                     "leads out of the directory"))
        return rows

    @contextlib.contextmanager
    def _fetching(self, dep: str, missing: str) -> Iterator[None]:
        """Turn what reading `dep` from the remote can raise into a StagingProblem."""
        try:
            yield
        except StagingProblem:
            raise
        except FileNotFoundError:
            raise StagingProblem(self._problem(dep, missing)) from None
        except Corrupt as exc:
            raise StagingProblem(self._problem(dep, str(exc))) from None
        except Exception as exc:  # fsspec backends raise their own errors
            raise StagingProblem(self._problem(dep, describe(exc))) from None

    def _problem(self, dep: str, reason: str) -> str:
        return (f"cannot fetch dep {dep} from remote '{self.remote.url}' on "
                f"{socket.gethostname()}: {reason}")


def failed(task: StageTask, error: str, duration_s: float = 0.0) -> TaskOutcome:
    """A failed outcome for `task`."""
    return TaskOutcome(task.stage.name, False, duration_s, error)


def send_outputs(remote: RemoteStore, root: Path, outs: Iterable[str],
                 state_db: Path) -> dict[str, str]:
    """Hash a stage's outputs under `root` as mlpipe hashes them anywhere, and upload what
    the remote lacks (a directory's files, then its manifest).

    Returns:
        Output path -> digest.

    Raises:
        StagingProblem: A declared output was not written, or cannot be uploaded.
    """
    state = StateCache(state_db)
    try:
        hasher = PathHasher(root, state)
        digests = hasher.hash(outs)
        missing = [path for path, digest in digests.items() if digest is None]
        if missing:  # the same words as record.record_run's after a local run
            raise StagingProblem(f"declared output {', '.join(missing)} was not written")
        files: dict[str, Path] = {}
        manifests: dict[str, bytes] = {}
        where: dict[str, str] = {}
        for path, digest in digests.items():
            assert digest is not None
            where.setdefault(digest, f"output {path}")
            if not is_dir_hash(digest):
                files[digest] = root / path
                continue
            manifest = hasher.manifest(path)
            manifests[digest] = manifest_bytes(manifest)
            for rel, member in manifest:
                files.setdefault(member, root / path / rel)
                where.setdefault(member, f"output {path}/{rel}")
    finally:
        state.close()
    send(remote, files, manifests, where)
    return {path: digest for path, digest in digests.items() if digest is not None}


def send(remote: RemoteStore, files: Mapping[str, Path], manifests: Mapping[str, bytes],
         where: Mapping[str, str]) -> int:
    """Upload the files and directory manifests (by digest) the remote lacks: files first,
    so a manifest on the remote never names a missing file.

    Args:
        remote: The remote cache.
        files: Digest -> a local file that holds those bytes.
        manifests: Digest -> a directory manifest's bytes.
        where: Digest -> what it is, for messages (`dep data/raw.csv`).

    Returns:
        How many objects were uploaded.

    Raises:
        StagingProblem: The remote cannot be listed, or an upload failed (a file that no
            longer matches its digest is never uploaded).
    """
    try:
        there = remote.existing_objects([*files, *manifests])
    except RemoteError as exc:
        raise StagingProblem(str(exc)) from None
    sources = dict(files)

    def upload(digest: str) -> None:
        try:
            remote.upload_object(sources[digest], digest)
        except Corrupt:
            raise StagingProblem(f"{where[digest]} changed after it was hashed; it was not "
                                 "sent; run again") from None
        except Exception as exc:  # fsspec backends raise their own errors
            raise StagingProblem(f"cannot send {where[digest]} to remote '{remote.url}': "
                                 f"{describe(exc)}") from None

    wanted = [digest for digest in files if digest not in there]
    each(wanted, upload)
    listed = [digest for digest in manifests if digest not in there]
    with tempfile.TemporaryDirectory(prefix="mlpipe-manifests-") as tmp:
        for digest in listed:
            sources[digest] = Path(tmp) / digest
            sources[digest].write_bytes(manifests[digest])
        each(listed, upload)
    return len(wanted) + len(listed)


def each(items: list[Path] | list[str], work: Callable[..., None]) -> None:
    """`work` on every item, THREADS at a time; the first error is raised once all ended."""
    if not items:
        return
    with ThreadPoolExecutor(min(THREADS, len(items))) as pool:
        for _ in pool.map(work, items):
            pass


def log_text(path: Path) -> str:
    """A log file's text, cut to its last LOG_LIMIT bytes with a note ('' when absent)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(0, size - LOG_LIMIT))
            data = handle.read(LOG_LIMIT)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    if size > LOG_LIMIT:
        text = f"[mlpipe: the first {size - LOG_LIMIT} bytes of this log were not kept]\n{text}"
    return text


def remove_scratch(scratch: Path) -> None:
    """Remove a scratch directory, also the directories a stage made read-only in it."""
    for current, dirs, _ in os.walk(scratch):
        for name in dirs:
            with contextlib.suppress(OSError):
                if not os.path.islink(os.path.join(current, name)):
                    os.chmod(os.path.join(current, name), 0o700)
    shutil.rmtree(scratch, ignore_errors=True)
