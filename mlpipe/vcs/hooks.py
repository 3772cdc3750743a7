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
WATCH_COMMENT = ("# Paths the pipelines read; a commit that stages none of them is not checked. "
                 "Rewritten when a pipeline file is committed.")


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


def hook_script(hook: str, pipelines: Sequence[str], watch: Sequence[str] = ()) -> str:
    """The shell script for `hook`, checking each pipeline file (paths from the work tree's top).

    pre-commit exits at once, without starting Python, when the commit stages none of the
    `watch` paths (what the pipelines read: see api.staged.watch_paths); otherwise it
    checks the staged pipeline files and lock files (`mlpipe hooks check-staged`), which also
    rewrites this list when a pipeline file changed. pre-push runs each pipeline that still
    exists and fails when that changed a lock file that is not committed.
    """
    python = shlex.quote(sys.executable)
    lines = ["#!/bin/sh", MARKER]
    if hook == "pre-commit":
        specs = " ".join(shlex.quote(f":(literal){path}") for path in watch or pipelines)
        files = " ".join(f"-f {shlex.quote(p)}" for p in pipelines)
        lines += [WATCH_COMMENT,
                  f"git diff --cached --quiet --no-ext-diff -- {specs} && exit 0",
                  _missing_python(python),
                  f"exec {python} -m mlpipe hooks check-staged --refresh-hook {files}"]
        return "\n".join(lines) + "\n"
    lines += ["set -e", 'cd "$(git rev-parse --show-toplevel)"', _missing_python(python)]
    for pipeline in pipelines:
        file = shlex.quote(pipeline)
        lock = shlex.quote(Path(pipeline).with_suffix(".lock").as_posix())
        lines.append(f"if [ ! -f {file} ]; then echo \"mlpipe: {pipeline} is gone; not run "
                     "(mlpipe hooks install again to update the hooks)\" >&2; else")
        lines.append(f"  {python} -m mlpipe run -f {file}")
        lines.append(f"  if [ -n \"$(git status --porcelain -- {lock})\" ]; then "
                     f"echo \"mlpipe: the run changed {lock}; commit it before pushing\" >&2; "
                     "exit 1; fi")
        lines.append("fi")
    return "\n".join(lines) + "\n"


def _missing_python(python: str) -> str:
    return (f"if [ ! -x {python} ]; then echo \"mlpipe: {python} is gone; install the hooks "
            "again from the environment that runs mlpipe (mlpipe hooks install)\" >&2; "
            "exit 1; fi")


def refresh(hooks_dir: Path, pipelines: Sequence[str], watch: Sequence[str]) -> bool:
    """Rewrite mlpipe's pre-commit hook with a new `watch` list; whether it changed.

    A hook mlpipe did not write, or none, is left alone.
    """
    path = hooks_dir / "pre-commit"
    if not is_managed(path):
        return False
    script = hook_script("pre-commit", pipelines, watch)
    if path.read_text(encoding="utf-8", errors="replace") == script:
        return False
    atomic_write_text(path, script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return True


def install(hooks_dir: Path, hooks: Sequence[str], pipelines: Sequence[str],
            force: bool = False, watch: Sequence[str] = ()) -> list[HookChange]:
    """Write mlpipe's hooks into `hooks_dir`.

    Args:
        hooks_dir: The repository's hooks directory (it honours core.hooksPath).
        hooks: Which hooks to write, from HOOKS.
        pipelines: Pipeline files the hooks check, relative to the work tree's top.
        force: Replace a foreign hook, keeping it as `<hook>.mlpipe-backup`.
        watch: Paths (from the top) whose staging makes the pre-commit hook check.

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
        atomic_write_text(path, hook_script(hook, pipelines, watch))
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
