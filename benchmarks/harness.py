"""Helpers for bench.py: whole processes timed from outside, and repos built from scratch."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "DVC_NO_ANALYTICS": "1", "NO_COLOR": "1", "MLPIPE_LOCK_WAIT": "0"}
ENV.pop("GITHUB_ACTIONS", None)


class BenchError(RuntimeError):
    """A benchmark step failed (the message says which command and what it printed)."""


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (not timed); raise BenchError with its output when it fails."""
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def timed(cwd: Path, cmd: Sequence[str], ok_codes: Sequence[int] = (0,)
          ) -> tuple[float, str, str]:
    """Wall time of one whole process, and what it printed (stdout, stderr)."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=False)
    took = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return took, proc.stdout, proc.stderr


@dataclass
class Samples:
    """Wall times of one tool in one scenario."""

    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict[str, float | int]:
        return {"median_s": round(self.median, 4), "min_s": round(min(self.times), 4),
                "max_s": round(max(self.times), 4), "n": len(self.times)}


Step = Callable[[], None]
Measure = Callable[[], float]


def alternate(measures: dict[str, tuple[Step, Measure]], reps: int, warmup: bool = True
              ) -> dict[str, Samples]:
    """Run each tool's (setup, measure) in turn, A B A B ..., `reps` times after a warm-up."""
    samples = {name: Samples() for name in measures}
    for rep in range(reps + (1 if warmup else 0)):
        for name, (setup, measure) in measures.items():
            setup()
            took = measure()
            if rep > 0 or not warmup:
                samples[name].times.append(took)
    return samples


def git_repo(root: Path) -> None:
    """A fresh git repository at `root` (deleted first)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.email", "bench@example.invalid")
    sh(root, "git", "config", "user.name", "bench")


def commit(root: Path, message: str) -> None:
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", message, check=False)


def dvc_init(root: Path) -> None:
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "config", "core.analytics", "false")
    sh(root, "dvc", "config", "core.check_update", "false")


def copy_data(src: Path, dest: Path, times: int = 1) -> None:
    """`dest` = `src` repeated `times` times (its own inode, so a touch stays local)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        for _ in range(times):
            with src.open("rb") as data:
                shutil.copyfileobj(data, out, 16 * 1024 * 1024)


def remove(root: Path, *paths: str) -> None:
    for rel in paths:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
