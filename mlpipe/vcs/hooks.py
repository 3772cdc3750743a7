"""Plain git hooks for users who do not use the pre-commit framework.

A hook mlpipe writes carries a marker line, so `uninstall` removes only its own hooks and
`install` never overwrites someone else's: it refuses, or with `force` keeps the old hook
beside it as `<hook>.mlpipe-backup` and restores it on uninstall.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import UsageError
from mlpipe.state.fsutil import atomic_write_text

MARKER = "# managed by mlpipe: `mlpipe hooks uninstall` removes this hook"
BACKUP_SUFFIX = ".mlpipe-backup"
HOOKS = ("pre-commit", "pre-push")


@dataclass(frozen=True)
class HookChange:
    """What install or uninstall did to one hook file."""

    hook: str
    path: Path
    action: str  # "installed", "replaced (old hook kept as ...)", "removed", "restored", ...


def is_managed(path: Path) -> bool:
    """Whether the hook at `path` was written by mlpipe."""
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False


def hook_script(hook: str, pipelines: Sequence[str]) -> str:
    """The shell script for `hook`, checking each pipeline file (paths from the work tree's top).

    pre-commit validates the files and, where a lock file exists, fails when it is stale;
    pre-push runs the pipeline and fails when that changed a lock file that is not committed.
    """
    mlpipe = f"{shlex.quote(sys.executable)} -m mlpipe"
    lines = ["#!/bin/sh", MARKER, "set -e", 'cd "$(git rev-parse --show-toplevel)"']
    quoted = [shlex.quote(p) for p in pipelines]
    if hook == "pre-commit":
        lines.append(f"{mlpipe} check {' '.join(quoted)}")
        for pipeline in pipelines:
            lock = shlex.quote(Path(pipeline).with_suffix(".lock").as_posix())
            lines.append(f"if [ -f {lock} ]; then {mlpipe} status -f {shlex.quote(pipeline)} "
                         "--fail-if-stale; fi")
        return "\n".join(lines) + "\n"
    for pipeline in pipelines:
        lock = shlex.quote(Path(pipeline).with_suffix(".lock").as_posix())
        lines.append(f"{mlpipe} run -f {shlex.quote(pipeline)}")
        lines.append(f"if [ -n \"$(git status --porcelain -- {lock})\" ]; then "
                     f"echo \"mlpipe: the run changed {lock}; commit it before pushing\" >&2; "
                     "exit 1; fi")
    return "\n".join(lines) + "\n"


def install(hooks_dir: Path, hooks: Sequence[str], pipelines: Sequence[str],
            force: bool = False) -> list[HookChange]:
    """Write mlpipe's hooks into `hooks_dir`.

    Args:
        hooks_dir: The repository's hooks directory (it honours core.hooksPath).
        hooks: Which hooks to write, from HOOKS.
        pipelines: Pipeline files the hooks check, relative to the work tree's top.
        force: Replace a foreign hook, keeping it as `<hook>.mlpipe-backup`.

    Returns:
        One change per hook.

    Raises:
        UsageError: A foreign hook exists and `force` is not set (nothing is written).
    """
    targets = [(hook, hooks_dir / hook) for hook in hooks]
    foreign = [p for _, p in targets if p.exists() and not is_managed(p)]
    if foreign and not force:
        raise UsageError(f"{foreign[0]}: a hook that mlpipe did not write is already there; "
                         "chain it by hand, or use --force to keep it as "
                         f"{foreign[0].name}{BACKUP_SUFFIX} and install mlpipe's")
    hooks_dir.mkdir(parents=True, exist_ok=True)
    changes = []
    for hook, path in targets:
        action = "updated" if is_managed(path) else "installed"
        if path in foreign:
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            os.replace(path, backup)
            action = f"installed (old hook kept as {backup.name})"
        atomic_write_text(path, hook_script(hook, pipelines))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        changes.append(HookChange(hook, path, action))
    return changes


def uninstall(hooks_dir: Path, hooks: Sequence[str] = HOOKS) -> list[HookChange]:
    """Remove mlpipe's hooks (foreign hooks are left alone) and restore any backed-up hook."""
    changes = []
    for hook in hooks:
        path = hooks_dir / hook
        if not is_managed(path):
            continue
        path.unlink()
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        if backup.exists():
            os.replace(backup, path)
            changes.append(HookChange(hook, path, "removed; previous hook restored"))
        else:
            changes.append(HookChange(hook, path, "removed"))
    return changes
