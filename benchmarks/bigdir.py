"""Scenario 9: a stage that reads one directory of many small files (100,000 by default).

Both tools get the same repository: `data/images/` of `files` files of about 1 KB (ignored by
git; tracked with `dvc add` for DVC, a plain dep for mlpipe) and one stage that counts them.
Timed, alternately: a no-op `status`, `status` after one file changed (a new file content each
time), and a cold run (the output, the lock and the run-cache removed first; the directory
and each tool's hash memo stay). The work
done is checked: the changed file must make the stage stale, and nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from harness import BenchError, Samples, alternate, commit, dvc_init, git_repo, remove, sh, timed
from scenarios import DVC, MLPIPE, Row, write_yaml

STAGE = {"cmd": "find data/images -type f | wc -l > count.txt", "deps": ["data/images"],
         "outs": ["count.txt"]}


def _fill(directory: Path, files: int) -> None:
    for n in range(files):
        shard = directory / f"{n // 1000:03d}"
        if n % 1000 == 0:
            shard.mkdir(parents=True, exist_ok=True)
        (shard / f"{n:06d}.bin").write_bytes(os.urandom(1024))


def repos(work: Path, files: int) -> dict[str, Path]:
    """The two repositories, each run once."""
    roots = {"mlpipe": work / f"bigdir{files}-mlpipe", "dvc": work / f"bigdir{files}-dvc"}
    for tool, root in roots.items():
        if (root / "count.txt").exists():
            continue
        git_repo(root)
        _fill(root / "data/images", files)
        if tool == "dvc":
            dvc_init(root)
            sh(root, "dvc", "add", "-q", "data/images")
            write_yaml(root / "dvc.yaml", {"stages": {"count": STAGE}})
            commit(root, "pipeline")
            sh(root, *DVC, "repro", "-q")
        else:
            (root / ".gitignore").write_text(".mlpipe/\n/data/images\ncount.txt\n")
            write_yaml(root / "mlpipe.yaml", {"stages": {"count": {"kind": "command", **STAGE}}})
            commit(root, "pipeline")
            sh(root, *MLPIPE, "run")
    return roots


def _status(tool: str) -> tuple[str, ...]:
    return (*MLPIPE, "status", "--json") if tool == "mlpipe" else (*DVC, "status")


def big_directory(work: Path, files: int, reps: int) -> list[Row]:
    """9: no-op status, status after one changed file, cold run, for both tools."""
    roots = repos(work, files)
    label = f"{files:,}-file directory"

    def noop(tool: str) -> tuple[Callable[[], None], Callable[[], float]]:
        return (lambda: None, lambda: timed(roots[tool], _status(tool), ok_codes=(0,))[0])

    def changed(tool: str) -> tuple[Callable[[], None], Callable[[], float]]:
        target = roots[tool] / "data/images/000/000007.bin"

        def measure() -> float:
            took, out, _ = timed(roots[tool], _status(tool), ok_codes=(0, 1))
            if tool == "mlpipe" and not json.loads(out)["stale"]:
                raise BenchError(f"mlpipe status did not see the changed file: {out[:300]}")
            if tool == "dvc" and "count" not in out:
                raise BenchError(f"dvc status did not see the changed file: {out[:300]}")
            return took

        return (lambda: target.write_bytes(os.urandom(1024)), measure)

    def cold(tool: str) -> tuple[Callable[[], None], Callable[[], float]]:
        cmd = (*MLPIPE, "run", "--json") if tool == "mlpipe" else (*DVC, "repro", "-q")

        def setup() -> None:
            remove(roots[tool], "count.txt", "mlpipe.lock", ".mlpipe/cache/runs", "dvc.lock",
                   ".dvc/cache/runs")

        return (setup, lambda: timed(roots[tool], cmd)[0])

    rows = []
    for what, make in ((f"{label}, no-op status", noop),
                       (f"{label}, one file changed, then status", changed),
                       (f"{label}, cold run", cold)):
        samples: dict[str, Samples] = alternate({tool: make(tool) for tool in roots}, reps)
        rows.append(Row("9", what, samples["mlpipe"], samples["dvc"]))
    return rows
