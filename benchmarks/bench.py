"""mlpipe against DVC on the same pipelines, measured alternately in one run.

    python benchmarks/bench.py [--large] [--quick] [--reps N] [--work DIR] [--json FILE]

Prints, per scenario, each tool's median wall time (min-max, n), the ratio mlpipe/DVC, and
whether each target holds; writes the same as JSON. `make bench` sets up the environment
(mlpipe and DVC from PyPI) and runs this. Every timed command is a whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bigdir
import data_scenarios
import scenarios as sc
from harness import ENV, HERE, BenchError
from make_data import BYTES_PER_ROW, write

ROOT = HERE.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="mlpipe vs DVC benchmark")
    parser.add_argument("--large", action="store_true", help="cold run on 1 GB too")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions; no 500-stage cold run for DVC (about 4 min)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of fast scenarios")
    parser.add_argument("--mb", type=float, default=100.0, help="size of the data set (MB)")
    parser.add_argument("--files", type=int, default=100_000,
                        help="files in the big directory of scenario 9")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mlpipe-bench"))
    parser.add_argument("--only", type=int, nargs="+", metavar="N",
                        help="run only these scenarios (numbers 1-10; 2-5 bring in 1)")
    parser.add_argument("--data-mb", type=float, default=1000.0,
                        help="size of the file scenario 10 versions (MB)")
    parser.add_argument("--data-files", type=int, default=100_000,
                        help="files in the directory scenario 10 versions")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    return parser.parse_args()


def machine() -> dict[str, str]:
    def version(cmd: tuple[str, ...]) -> str:
        out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "-"

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    return {"cpu": f"{os.cpu_count()} x {cpu}", "python": platform.python_version(),
            "os": platform.platform(), "mlpipe": version(("mlpipe", "--version")),
            "dvc": version(("dvc", "--version"))}


def targets(rows: list[sc.Row]) -> list[tuple[str, bool, str]]:
    """(target, met, figure) for each target the issue sets."""
    by = {row.what: row for row in rows}
    out: list[tuple[str, bool, str]] = []

    def add(name: str, met: bool, figure: str) -> None:
        out.append((name, met, figure))

    for what in ("no-op run", "no-op status"):
        row = by.get(what)
        if row is None:
            continue
        add(f"{what}: ratio <= 0.33 and <= 0.25 s",
            bool(row.ratio and row.ratio <= 0.33 and row.mlpipe.median <= 0.25),
            f"{row.mlpipe.median:.3f} s, ratio {row.ratio:.2f}")
    touch = next((r for r in rows if r.what.startswith("touch 1 GB")), None)
    if touch and touch.ratio:
        add("touch 1 GB then status: ratio <= 0.2", touch.ratio <= 0.2, f"ratio {touch.ratio:.2f}")
    cold = by["cold run, 4 stages"].notes if "cold run, 4 stages" in by else {}
    if cold.get("overhead_ratio") is not None:
        add("cold-run overhead <= half of DVC's", float(cold["overhead_ratio"]) <= 0.5,
            f"{cold['overhead_mlpipe_s']} s vs {cold['overhead_dvc_s']} s")
    restore = by.get("git checkout old params, run")
    if restore and restore.ratio:
        add("run-cache restore: ratio <= 0.5, nothing retrained", restore.ratio <= 0.5,
            f"ratio {restore.ratio:.2f}")
    c100, c500 = by.get("100-stage chain, cold run"), by.get("500-stage chain, cold run")
    if c100 and c500:
        per100 = float(c100.notes["overhead_per_stage_ms_mlpipe"])
        per500 = float(c500.notes["overhead_per_stage_ms_mlpipe"])
        add("500-stage chain: <= 20 ms/stage, linear (100 vs 500)",
            per500 <= 20 and per500 <= per100 * 1.5, f"{per100} -> {per500} ms/stage")
        status = by["500-stage chain, no-op status"]
        add("500-stage chain: no-op status <= 0.3 s", status.mlpipe.median <= 0.3,
            f"{status.mlpipe.median:.3f} s")
    fan = by.get("fan of 4 x sleep 2, -j 4")
    if fan:
        add("fan of 4 x sleep 2 with -j 4: <= 2.5 s", fan.mlpipe.median <= 2.5,
            f"{fan.mlpipe.median:.2f} s")
    for row in rows:
        if row.scenario == "9" and row.ratio:
            limit = 0.2 if row.what.endswith("cold run") else 0.1
            add(f"{row.what}: ratio <= {limit}", row.ratio <= limit,
                f"{row.mlpipe.median:.3f} s vs {row.dvc.median:.3f} s, ratio {row.ratio:.2f}"
                if row.dvc else "")
        if row.scenario == "10" and row.ratio:
            add(f"{row.what}: ratio <= 0.5", row.ratio <= 0.5, f"ratio {row.ratio:.2f}")
    helps = by.get("--help")
    if helps:
        add("mlpipe --help <= 0.15 s", helps.mlpipe.median <= 0.15,
            f"{helps.mlpipe.median:.3f} s")
    heavy = subprocess.run([sys.executable, "-c", "import sys, mlpipe, mlpipe.api, mlpipe.cli.app;"
                            "print(sorted({'pandas', 'sklearn', 'joblib'} & set(sys.modules)))"],
                           env=ENV, capture_output=True, text=True, check=True).stdout.strip()
    add("import mlpipe pulls in no pandas, sklearn, joblib", heavy == "[]", heavy)
    return out


def table(rows: list[sc.Row]) -> str:
    def cell(s: sc.Samples | None) -> str:
        if s is None:
            return "-"
        return f"{s.median:.3f} ({min(s.times):.3f}-{max(s.times):.3f}, n={len(s.times)})"

    lines = ["| # | scenario | mlpipe median s (min-max, n) | DVC median s (min-max, n) | ratio |",
             "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio else "-"
        lines.append(f"| {r.scenario} | {r.what} | {cell(r.mlpipe)} | {cell(r.dvc)} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    if shutil.which("dvc", path=ENV["PATH"]) is None:
        print("bench: dvc is not installed; run `make bench` (it installs DVC)", file=sys.stderr)
        return 2
    reps = 3 if args.quick else args.reps
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"data-{args.mb:g}mb.csv"
    if not data.exists():
        print(f"generating {args.mb:g} MB of data ...", flush=True)
        write(data, int(args.mb * 1e6 / BYTES_PER_ROW))
    rows: list[sc.Row] = []

    only = set(args.only or ())
    if only & {2, 3, 4, 5}:
        only.add(1)  # they start from the 4-stage pipeline's committed first run

    def step(label: str, run: Callable[[], list[sc.Row]]) -> None:
        if only and int(label.split()[0]) not in only:
            return
        print(f"{label} ...", flush=True)
        added = run()
        rows.extend(added)
        for row in added:
            print(f"    {row.what}: mlpipe {row.mlpipe.median:.3f} s"
                  + (f", dvc {row.dvc.median:.3f} s" if row.dvc else ""), flush=True)

    four = sc.Four(work, data)
    step("1 cold run", lambda: sc.cold_run(four, 2 if args.quick else 3))
    step("2 no-op run and status", lambda: sc.no_op(four, reps * 2))
    step("3 one param changed", lambda: sc.param_change(four, 2 if args.quick else 3))
    step("4 touch, then status", lambda: [
        sc.touch_status(four.roots, "data/raw.csv", f"{args.mb:g} MB", reps * 2),
        sc.touch_status(sc.one_stage_repos(work, data, 10), "data/big.csv", "1 GB", reps)])
    step("5 git checkout, run", lambda: sc.checkout_restore(four, reps * 2))
    step("6 chains", lambda: sc.chain(work, 100, 1 if args.quick else 3, True)
         + sc.chain(work, 500, 1, not args.quick))
    step("7 fan", lambda: sc.fan(work, 1 if args.quick else 2))
    step("8 start-up", lambda: sc.startup(four, ROOT / "examples/pipelines/iris/mlpipe.yaml",
                                          reps * 2))
    step("9 big directory", lambda: bigdir.big_directory(work, args.files, max(reps // 2, 2)))
    step("10 versioned data", lambda: data_scenarios.versioned_data(
        work, args.data_mb, args.data_files, 1 if args.quick else 2))
    if args.large:
        big = work / "data-1gb.csv"
        if not big.exists():
            write(big, int(1000e6 / BYTES_PER_ROW))
        large = sc.Four(work / "large", big)
        step("1 cold run, 1 GB", lambda: [
            sc.Row("1", "cold run, 4 stages, 1 GB", r.mlpipe, r.dvc, r.notes)
            for r in sc.cold_run(large, 1)])
    checks = targets(rows)
    print()
    print(table(rows))
    print()
    for name, met, figure in checks:
        print(f"{'met   ' if met else 'MISSED'}  {name}: {figure}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine(), "rows": [r.as_dict() for r in rows],
                                     "targets": [{"target": n, "met": m, "figure": f}
                                                 for n, m, f in checks]}, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
