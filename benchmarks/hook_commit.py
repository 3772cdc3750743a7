"""The plain pre-commit hook's cost per commit, side by side with a bare `git commit`.

    python benchmarks/hook_commit.py [--reps N] [--work DIR]

In a repository whose pipeline has run and whose lock is committed, with `mlpipe hooks
install` done, it times alternately: a commit staging only a README change through the hook,
the same commit with `--no-verify` (bare git), and a commit staging a change to a dep (the
hook starts mlpipe and checks the staged lock; that one is expected to be refused, since the
lock is not re-run). Prints the median (min-max) of each and the README overhead, against the
50 ms target.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PIPELINE = """\
params: {scale: 2}
stages:
  double:
    kind: command
    cmd: python -c "print(int(open('in.txt').read()) * ${params.scale})" > out.txt
    deps: [in.txt, src]
    outs: [out.txt]
"""
TARGET_MS = 50.0


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check)


def _setup(repo: Path) -> None:
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "bench@example.com")
    _git(repo, "config", "user.name", "Bench")
    (repo / "mlpipe.yaml").write_text(PIPELINE)
    (repo / "in.txt").write_text("21\n")
    for i in range(50):
        (repo / "src" / f"m{i}.py").write_text(f"X = {i}\n")
    (repo / ".gitignore").write_text(".mlpipe/\nout.txt\n")
    (repo / "README.md").write_text("readme\n")
    mlpipe = [sys.executable, "-m", "mlpipe"]
    subprocess.run([*mlpipe, "run"], cwd=repo, check=True, capture_output=True)
    subprocess.run([*mlpipe, "hooks", "install"], cwd=repo, check=True, capture_output=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "pipeline and lock")


def _timed_commit(repo: Path, path: str, n: int, *flags: str) -> tuple[float, int]:
    """Milliseconds for one `git commit` that stages an edit of `path`; its exit code."""
    with open(repo / path, "a", encoding="utf-8") as f:
        f.write(f"{n}\n")
    _git(repo, "add", path)
    start = time.perf_counter()
    done = _git(repo, "commit", "-q", "-m", f"edit {n}", *flags, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        _git(repo, "reset", "-q", "--hard", "HEAD")
    return elapsed, done.returncode


def _row(name: str, times: list[float]) -> str:
    return (f"{name:<46} {statistics.median(times):8.1f} ms  "
            f"({min(times):.1f}-{max(times):.1f}, n={len(times)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mlpipe-bench-hook"))
    args = parser.parse_args()
    repo = args.work / "repo"
    _setup(repo)
    bare, hooked, checked = [], [], []
    for n in range(args.reps):
        hooked.append(_timed_commit(repo, "README.md", n)[0])
        bare.append(_timed_commit(repo, "README.md", n, "--no-verify")[0])
        if n % 3 == 0:
            elapsed, code = _timed_commit(repo, "in.txt", n)
            if code == 0:
                print("the hook let a dep change with a stale lock through", file=sys.stderr)
                return 1
            checked.append(elapsed)
    overhead = statistics.median(hooked) - statistics.median(bare)
    print(f"git {_git(repo, 'version').stdout.split()[-1]}, Python {sys.version.split()[0]}")
    print(_row("git commit --no-verify (README only, bare git)", bare))
    print(_row("git commit through mlpipe's hook (README only)", hooked))
    print(_row("git commit through the hook (dep staged: check)", checked))
    verdict = "meets" if overhead <= TARGET_MS else "misses"
    print(f"README overhead of the hook: {overhead:.1f} ms ({verdict} the {TARGET_MS:.0f} ms "
          "target)")
    return 0 if overhead <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
