"""A 12-variant grid on the iris example: `mlpipe exp run -j 2` against twelve sequential
`mlpipe run -S` calls, each in a fresh copy of the example in its own git repository.

    python benchmarks/exp_grid.py [--reps N] [--work DIR]

Prints each way's median wall time (min-max, n) side by side, and how many times the stages
shared by every variant (ingest, validate) ran. Every timed command is a whole process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sqlite3
from pathlib import Path

from harness import HERE, Samples, sh, timed

EXAMPLE = HERE.parent / "examples" / "pipelines" / "iris"
C_VALUES = ("0.3", "0.5", "1", "2", "5", "10")
MAX_ITER = ("300", "500")


def fresh(work: Path, name: str) -> Path:
    """A copy of the iris example, committed in a new git repository, nothing run yet."""
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".mlpipe", "out", "*.lock"))
    (root / ".gitignore").write_text(".mlpipe/\nout/\n")
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "-c", "user.email=b@example.com", "-c", "user.name=bench", "add", "-A")
    sh(root, "git", "-c", "user.email=b@example.com", "-c", "user.name=bench", "commit", "-qm",
       "iris")
    return root


def ran(root: Path, stage: str) -> int:
    """How many times a stage executed, from the run history."""
    with sqlite3.connect(root / ".mlpipe" / "runs.db") as db:
        return db.execute("SELECT COUNT(*) FROM runs WHERE stage = ? AND status = 'ran'",
                          (stage,)).fetchone()[0]


def grid_run(work: Path) -> tuple[float, dict[str, int]]:
    root = fresh(work, "grid")
    took, _, _ = timed(root, ["mlpipe", "exp", "run", "-S", f"model.C={','.join(C_VALUES)}",
                              "-S", f"model.max_iter={','.join(MAX_ITER)}", "-j", "2"])
    rows = json.loads(sh(root, "mlpipe", "exp", "show", "--json").stdout)["rows"]
    assert len(rows) == 12, rows
    return took, {s: ran(root, s) for s in ("ingest", "validate", "train")}


def sequential(work: Path) -> tuple[float, dict[str, int]]:
    root = fresh(work, "sequential")
    total = 0.0
    for c, iters in itertools.product(C_VALUES, MAX_ITER):
        took, _, _ = timed(root, ["mlpipe", "run", "-S", f"model.C={c}", "-S",
                                  f"model.max_iter={iters}"], ok_codes=(0, 1))
        total += took  # a weak C may fail the evaluation gate: exit 1, still a full run
    return total, {s: ran(root, s) for s in ("ingest", "validate", "train")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mlpipe-bench-exp"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    grid, seq = Samples(), Samples()
    runs: dict[str, dict[str, int]] = {}
    for _ in range(args.reps):  # alternate, so load on the machine hits both alike
        took, runs["exp run -j 2"] = grid_run(args.work)
        grid.times.append(took)
        took, runs["12 x run -S"] = sequential(args.work)
        seq.times.append(took)
    print(f"{'12-variant grid on iris':<28}{'median s':>10}{'min-max s':>16}{'n':>4}   "
          "stage runs (ingest, validate, train)")
    for label, samples in (("mlpipe exp run -j 2", grid), ("12 x mlpipe run -S", seq)):
        counts = runs["exp run -j 2" if samples is grid else "12 x run -S"]
        print(f"{label:<28}{samples.median:>10.1f}"
              f"{f'{min(samples.times):.1f}-{max(samples.times):.1f}':>16}{len(samples.times):>4}"
              f"   {counts['ingest']}, {counts['validate']}, {counts['train']}")
    print(f"ratio exp/sequential: {grid.median / seq.median:.2f}")


if __name__ == "__main__":
    main()
