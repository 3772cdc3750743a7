"""Bounded SIGKILL trials of `mlpipe run -j 2` on a 6-stage pipeline, killing either the whole
process group or only the `mlpipe` process.

    python benchmarks/kill_trials.py [--trials 100] [--seed 0] [--jobs 2]

Each trial runs the pipeline with a new param value (every stage's output changes), kills it
after a random delay, then checks what is left: after 10 s no process of the killed run may
still be alive, the next `mlpipe run` must not be refused (no stuck lock) and must exit 0,
every output must then hold what the new value says (nothing an orphan wrote survives), and
`mlpipe cache verify` must pass. It prints, per kind of kill: trials, mid-run (the kill landed
before the run had finished), consistent (every check held) and re-executed (trials whose
next run had to run a stage again, and how many stage runs that was in all).

This lives in benchmarks/, not in the mlpipe package: it is a development tool.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = 6
SETTLE_S = 10.0


def pipeline() -> str:
    """Two chains of three stages; the first of each writes a directory file by file."""
    lines = ["params:", "  round: 0", "stages:"]
    for i in range(STAGES):
        dep = f"\n    deps: [out/s{i - 1}]" if i % 3 else ""
        cmd = (f"mkdir -p out/s{i} && for n in 1 2 3 4 5; do echo s{i} r${{params.round}} $n "
               f"> out/s{i}/$n.txt; sleep 0.05; done")
        lines.append(f"  s{i}:\n    kind: command\n    cmd: {cmd}{dep}\n    outs: [out/s{i}]")
    return "\n".join(lines) + "\n"


def mlpipe(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLPIPE_LOCK_WAIT": "3"}
    return subprocess.run([sys.executable, "-m", "mlpipe", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def session_alive(sid: int) -> bool:
    """Whether any live (not zombie) process is still in session `sid`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            return True
    return False


def outputs_hold(root: Path, round_: int) -> bool:
    for i in range(STAGES):
        folder = root / "out" / f"s{i}"
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if names != [f"{n}.txt" for n in range(1, 6)]:
            return False
        if any((folder / name).read_text() != f"s{i} r{round_} {name[0]}\n" for name in names):
            return False
    return True


def trial(root: Path, round_: int, group: bool, rng: random.Random) -> dict[str, int]:
    env = {**os.environ, "MLPIPE_LOCK_WAIT": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "mlpipe", "run", "-j", "2", "-S",
                             f"round={round_}"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(rng.uniform(0.3, 1.5))
    mid_run = proc.poll() is None
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + SETTLE_S
    while session_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = session_alive(proc.pid)
    if orphans:
        os.killpg(proc.pid, signal.SIGKILL)
    after = mlpipe(root, "run", "--json", "-j", "2", "-S", f"round={round_}")
    ran = 0
    if after.returncode == 0:
        ran = sum(s["status"] == "ran" for s in json.loads(after.stdout)["stages"])
    consistent = (not orphans and after.returncode == 0 and outputs_hold(root, round_)
                  and mlpipe(root, "cache", "verify").returncode == 0)
    return {"mid_run": int(mid_run), "consistent": int(consistent), "re_executed": int(ran > 0),
            "stage_runs": ran}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="trials of each kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
        (root / "mlpipe.yaml").write_text(pipeline())
        (root / ".gitignore").write_text(".mlpipe/\nout/\n")
        first = mlpipe(root, "run", "-j", "2")
        if first.returncode != 0:
            print(first.stderr, file=sys.stderr)
            return 1
        totals = {kind: dict.fromkeys(("trials", "mid_run", "consistent", "re_executed",
                                       "stage_runs"), 0) for kind in ("group", "parent only")}
        round_ = 0
        for done in range(1, args.trials + 1):
            for kind in totals:
                round_ += 1
                for name, value in trial(root, round_, kind == "group", rng).items():
                    totals[kind][name] += value
                totals[kind]["trials"] += 1
            if done % 10 == 0:
                print(f"after {done}: {totals}", file=sys.stderr, flush=True)
    print(f"{'kill':<12} {'trials':>7} {'mid-run':>8} {'consistent':>11} {'re-executed':>12} "
          f"{'stage runs':>11}")
    for kind, row in totals.items():
        print(f"{kind:<12} {row['trials']:>7} {row['mid_run']:>8} {row['consistent']:>11} "
              f"{row['re_executed']:>12} {row['stage_runs']:>11}")
    return 0 if all(row["consistent"] == row["trials"] for row in totals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
