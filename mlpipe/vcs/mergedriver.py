"""Registering `mlpipe lock merge` as git's merge driver for lock files.

Two halves, as git wants them: `.gitattributes` (committed, so the whole team's merges,
rebases and cherry-picks of lock files go through the driver) names the driver for each
lock file, and the repository's git config (per clone, never the global one) says what
command the driver runs. A clone without the config falls back to git's text merge.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mlpipe.errors import UsageError
from mlpipe.state.fsutil import atomic_write_text

DRIVER = "mlpipe-lock"
NAME = "mlpipe lock files, merged stage by stage"


def driver_command(mlpipe: str | None = None) -> str:
    """The driver's command line; `mlpipe` defaults to this interpreter's mlpipe."""
    program = mlpipe or f"{shlex.quote(sys.executable)} -m mlpipe"
    return f"{program} lock merge %O %A %B --name %P"


def attribute_line(lock: str) -> str:
    """The `.gitattributes` line for a lock file at `lock` (relative to the work tree's top)."""
    return f"/{lock} merge={DRIVER}"


def _git_config(top: Path, *args: str) -> bool:
    """Run `git config ARGS`; False when it removed nothing because nothing was there."""
    done = subprocess.run(["git", "config", *args], cwd=top, capture_output=True, text=True)
    if done.returncode == 0:
        return True
    if done.returncode == 128 and "--remove-section" in args:  # no such section
        return False
    raise UsageError(f"{top}: git config {' '.join(args)} failed: "
                     f"{done.stderr.strip() or done.returncode}")


def install(top: Path, locks: Sequence[str]) -> list[str]:
    """Register the driver in the repository's config and `.gitattributes` at `top`.

    Args:
        top: The work tree's top.
        locks: Lock files, relative to `top`.

    Returns:
        What was done, one line each.
    """
    _git_config(top, "--local", f"merge.{DRIVER}.name", NAME)
    _git_config(top, "--local", f"merge.{DRIVER}.driver", driver_command())
    done = [f"merge driver '{DRIVER}' set in the repository's git config"]
    path = top / ".gitattributes"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = text.splitlines()
    missing = [attribute_line(lock) for lock in locks if attribute_line(lock) not in lines]
    if missing:
        head = text if not text or text.endswith("\n") else text + "\n"
        atomic_write_text(path, head + "".join(f"{line}\n" for line in missing))
        done.extend(f".gitattributes: added '{line}' (commit it)" for line in missing)
    return done


def uninstall(top: Path) -> list[str]:
    """Remove the driver from the repository's config (`.gitattributes` is left alone: with
    no driver configured, git merges lock files as text)."""
    if not _git_config(top, "--local", "--remove-section", f"merge.{DRIVER}"):
        return []
    return [f"merge driver '{DRIVER}' removed from the repository's git config"]
