"""What is being committed: a pipeline checked as the index holds it, not as the work tree does.

`check` writes the staged pipeline file, params file, lock file and deps into a temporary
tree and asks whether the staged lock file matches them; an unrelated unstaged edit counts
for nothing, and a staged change whose re-run lock file is left unstaged is caught.
`watch_paths` lists what a pipeline reads (paths from the repository's top): the plain git
hook exits without starting Python when the commit stages none of them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from mlpipe import api
from mlpipe.core.planner import Decision
from mlpipe.errors import MlpipeError
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import parse
from mlpipe.spec.yamlio import load_file
from mlpipe.vcs import gitinfo


@dataclass(frozen=True)
class StagedCheck:
    """The verdict on one pipeline file as staged.

    Attributes:
        pipeline: The pipeline file, from the repository's top.
        lock: Its lock file, from the top.
        staged: Whether the index holds the pipeline file at all.
        locked: Whether the index holds the lock file (a pipeline never run has none).
        error: The one-line problem when the staged pipeline is invalid.
        mismatched: Stages whose staged lock entry does not match the staged inputs.
        watch: What the pipeline reads, from the top (see `watch_paths`).
    """

    pipeline: str
    lock: str
    staged: bool
    locked: bool = False
    error: str | None = None
    mismatched: tuple[Decision, ...] = ()
    watch: tuple[str, ...] = ()


def lock_gate(pipeline_file: Path) -> tuple[Decision, ...]:
    """Stages whose lock entry does not match the pipeline file, params and dep content.

    Outputs that are missing or differ from the lock (a fresh checkout), `always_run`,
    `frozen` and deps that cannot be read here do not count; a stage waiting on an upstream
    stage counts only when that stage does.
    """
    mismatched: dict[str, Decision] = {}
    for decision in api.status(pipeline_file):
        reasons = tuple(r for r in decision.reasons if _about_the_lock(r, mismatched))
        if reasons:
            mismatched[decision.stage] = replace(decision, reasons=reasons)
    return tuple(mismatched.values())


def _about_the_lock(reason: str, mismatched: dict[str, Decision]) -> bool:
    if reason.startswith("upstream '"):
        return reason.split("'")[1] in mismatched
    return not (reason in ("always_run", "frozen", "forced") or reason.startswith("out ")
                or reason.endswith(" missing") or reason.endswith("restore from cache"))


def check(top: Path, pipeline: str) -> StagedCheck:
    """Check the staged `pipeline` (a path from `top`, the repository's work tree).

    Raises:
        ValueError: git could not list or export the index.
    """
    lock = PurePosixPath(pipeline).with_suffix(".lock").as_posix()
    if not gitinfo.index_files(top, [pipeline]):
        return StagedCheck(pipeline, lock, staged=False, watch=(pipeline, lock))
    locked = bool(gitinfo.index_files(top, [lock]))
    with tempfile.TemporaryDirectory(prefix="mlpipe-staged-") as scratch:
        tree = Path(scratch)
        gitinfo.export_index(top, [pipeline, *([lock] if locked else [])], tree)
        try:
            spec, params_file = _read(tree / pipeline, top, tree)
            watch = watch_paths(pipeline, spec, params_file, tree)
            _export_deps(top, tree, spec, watch)
            mismatched = lock_gate(tree / pipeline) if locked else ()
        except MlpipeError as exc:
            return StagedCheck(pipeline, lock, True, locked, _relative(str(exc), tree),
                               watch=(pipeline, lock))
    return StagedCheck(pipeline, lock, True, locked, None, mismatched, watch)


def watch_paths(pipeline: str, spec: PipelineSpec | None, params_file: str | None = None,
                base: Path = Path("/")) -> tuple[str, ...]:
    """The pipeline file, its lock file, params file and every dep, as paths from the top.

    `base` is the directory `spec` was read in that stands for the repository's top (for
    deps given as absolute paths). Paths that leave the repository are left out (git cannot
    stage them).
    """
    paths = [pipeline, PurePosixPath(pipeline).with_suffix(".lock").as_posix()]
    if params_file:
        paths.append(params_file)
    if spec is not None:
        root = PurePosixPath(pipeline).parent
        paths.extend(_from_top(root, dep, base) for stage in spec.stages for dep in stage.deps)
    return tuple(dict.fromkeys(p for p in paths if p and not p.startswith("../")))


def watch_paths_now(top: Path, pipeline: str) -> tuple[str, ...]:
    """`watch_paths` of the pipeline file as the work tree holds it (itself and its lock only
    when it cannot be read)."""
    try:
        spec, params_file = _read(top / pipeline, top, top)
    except MlpipeError:
        spec, params_file = None, None
    return watch_paths(pipeline, spec, params_file, top)


def _read(path: Path, top: Path, tree: Path) -> tuple[PipelineSpec, str | None]:
    """The pipeline at `path` inside `tree`, exporting its params file from the index first
    when `tree` is not the work tree."""
    raw: Any = load_file(path)
    named = raw.get("params_file") if isinstance(raw, dict) else None
    params_file = None
    if isinstance(named, str):
        params_file = _from_top(PurePosixPath(path.relative_to(tree).as_posix()).parent, named,
                                tree)
        if tree != top and not params_file.startswith("../"):
            gitinfo.export_index(top, gitinfo.index_files(top, [params_file]), tree)
    return parse(raw, path), params_file


def _export_deps(top: Path, tree: Path, spec: PipelineSpec, watch: tuple[str, ...]) -> None:
    """Staged deps into `tree`; a dep git does not track (ignored data, a submodule) is
    linked to the work tree's, and outputs of stages are left out."""
    gitinfo.export_index(top, gitinfo.index_files(top, watch[2:]), tree)
    root = PurePosixPath(spec.path.relative_to(tree).as_posix()).parent
    written = {_from_top(root, out, tree) for stage in spec.stages for out in stage.outs}
    for stage in spec.stages:
        for dep in stage.deps:
            rel = _from_top(root, dep, tree)
            target = tree / rel
            if rel in written or rel.startswith("../") or os.path.lexists(target):
                continue
            if os.path.lexists(top / rel):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(top / rel, target_is_directory=(top / rel).is_dir())


def _from_top(root: PurePosixPath, path: str, top: Path) -> str:
    """`path` (relative to the pipeline's `root`, or absolute) as a path from `top`."""
    if os.path.isabs(path):
        return Path(os.path.relpath(path, top)).as_posix()
    return os.path.normpath((root / path).as_posix()).replace(os.sep, "/")


def _relative(message: str, tree: Path) -> str:
    """`message` with the temporary tree's paths shown as paths from the top."""
    return message.replace(f"{tree}{os.sep}", "").replace(f"{tree.resolve()}{os.sep}", "")
