"""A wide pipeline on one process against a dask cluster: `mlpipe run -j 1` and
`mlpipe run --executor dask --workers N`, cold, on the same pipeline.

    python benchmarks/cluster.py [--stages 8] [--rows 6000] [--trees 60] [--workers 2] [--reps 3]

The pipeline has `--stages` independent `train` stages (scikit-learn gradient boosting, one
thread, each a different seed) on a classification table the script writes. Each repetition
runs both ways from a fresh cache (no `.mlpipe/`, outputs or lock file), alternating which
goes first. Every timed command is a whole `mlpipe run` process, so the dask figure includes
starting the local cluster, the workers importing scikit-learn, and stopping it. Prints each
figure as it is measured, then the median of each, their ratio, and whether both runs wrote
the same outputs (the lock files' output hashes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=8, help="independent train stages")
    parser.add_argument("--rows", type=int, default=6000, help="rows of the training table")
    parser.add_argument("--trees", type=int, default=60, help="boosting rounds per stage")
    parser.add_argument("--workers", type=int, default=2, help="dask worker processes")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each way")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mlpipe-cluster-bench"))
    return parser.parse_args()


def write_project(root: Path, stages: int, rows: int, trees: int) -> None:
    """A CSV of `rows` rows (20 numeric features, a binary target) and the pipeline file."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 20))
    weights = rng.normal(size=20)
    target = (features @ weights + rng.normal(scale=2.0, size=rows) > 0).astype(int)
    header = ",".join([*(f"x{i}" for i in range(20)), "y"])
    table = np.column_stack([features, target])
    np.savetxt(root / "data" / "train.csv", table, delimiter=",", header=header, comments="",
               fmt=["%.6f"] * 20 + ["%d"])
    pipeline = {"stages": {
        f"fit_{i}": {"kind": "train", "data": "data/train.csv", "target": "y",
                     "task": "classification", "estimator": "gradient_boosting",
                     "hyperparams": {"n_estimators": trees, "max_depth": 3}, "seed": i}
        for i in range(stages)}}
    (root / "mlpipe.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))


def cold_run(root: Path, args: list[str]) -> tuple[float, dict[str, object]]:
    """Time `mlpipe run ARGS` from a fresh cache; returns seconds and the outputs it locked."""
    for path in (root / ".mlpipe", root / "out"):
        shutil.rmtree(path, ignore_errors=True)
    (root / "mlpipe.lock").unlink(missing_ok=True)
    env = {**os.environ, "NO_COLOR": "1"}
    mlpipe = [sys.executable, "-m", "mlpipe", "run", *args]
    started = time.perf_counter()
    proc = subprocess.run(mlpipe, cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"mlpipe run {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    lock = yaml.safe_load((root / "mlpipe.lock").read_text())
    return took, {name: entry["outs"] for name, entry in lock["stages"].items()}


def main() -> None:
    args = parse_args()
    root = args.work / "wide"
    write_project(root, args.stages, args.rows, args.trees)
    ways = {"local -j 1": ["-j", "1"],
            f"dask --workers {args.workers}": ["--executor", "dask", "--workers",
                                               str(args.workers)]}
    print(f"{args.stages} train stages, {args.rows} rows, {args.trees} trees each; "
          f"{os.cpu_count()} cores; {args.reps} cold runs each way", flush=True)
    times: dict[str, list[float]] = {way: [] for way in ways}
    outputs: dict[str, dict[str, object]] = {}
    for rep in range(args.reps):
        order = list(ways) if rep % 2 == 0 else list(reversed(ways))
        for way in order:
            took, outputs[way] = cold_run(root, ways[way])
            times[way].append(took)
            print(f"  rep {rep + 1}: {way}: {took:.2f} s", flush=True)
    medians = {way: statistics.median(values) for way, values in times.items()}
    for way, values in times.items():
        print(f"{way}: median {medians[way]:.2f} s (min {min(values):.2f}, "
              f"max {max(values):.2f}, n={len(values)})")
    local, dask = medians.values()
    print(f"ratio dask/local: {dask / local:.2f} (speed-up {local / dask:.2f}x)")
    same = len({repr(sorted(out.items())) for out in outputs.values()}) == 1
    print(f"same outputs both ways: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
