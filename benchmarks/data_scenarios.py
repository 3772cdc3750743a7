"""Versioned data against `dvc add`: add a large file and a directory of many small files,
then, after `git checkout` of the commit before they changed, `status` and `checkout`."""

from __future__ import annotations

import os
from pathlib import Path

from harness import Samples, alternate, commit, dvc_init, git_repo, remove, sh, timed
from scenarios import Row

PIPELINE = """\
stages:
  count:
    kind: command
    cmd: ls images | wc -l > count.txt
    deps: [big.bin, images]
    outs: [count.txt]
"""
CHUNK = 16 << 20


def _write_big(path: Path, mb: float) -> None:
    block = os.urandom(CHUNK)
    left = int(mb * 1e6)
    with path.open("wb") as out:
        while left > 0:
            out.write(block[:min(left, CHUNK)])
            left -= CHUNK


def _write_images(directory: Path, files: int) -> None:
    for i in range(files):
        sub = directory / f"{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.txt").write_bytes(f"image {i}\n".encode() * 8)


class DataRepos:
    """One repository per tool holding the same big file and directory."""

    def __init__(self, work: Path, mb: float, files: int) -> None:
        self.roots = {"mlpipe": work / "data-mlpipe", "dvc": work / "data-dvc"}
        source = work / f"data-source-{mb:g}mb-{files}"
        if not (source / "done").exists():
            remove(source)
            (source / "images").mkdir(parents=True)
            _write_big(source / "big.bin", mb)
            _write_images(source / "images", files)
            (source / "done").write_text("")
        for tool, root in self.roots.items():
            git_repo(root)
            if tool == "dvc":
                dvc_init(root)
            else:
                (root / "mlpipe.yaml").write_text(PIPELINE)
                (root / ".gitignore").write_text(".mlpipe/\ncount.txt\n")
            commit(root, "pipeline")  # before the data: git must not track it
            sh(root, "cp", "-a", str(source / "big.bin"), str(source / "images"), str(root))

    def add(self, tool: str, path: str) -> float:
        return timed(self.roots[tool], ("mlpipe", "add", path) if tool == "mlpipe"
                     else ("dvc", "add", "-q", path))[0]

    def forget(self, tool: str) -> None:
        """Back to before any add: no cache, no record, no hash memo."""
        root = self.roots[tool]
        if tool == "mlpipe":
            remove(root, ".mlpipe", "mlpipe.data.yaml")
        else:
            remove(root, ".dvc/cache", ".dvc/tmp", "big.bin.dvc", "images.dvc")
        remove(root, ".gitignore")
        if tool == "mlpipe":
            (root / ".gitignore").write_text(".mlpipe/\ncount.txt\n")

    def status(self, tool: str) -> float:
        return timed(self.roots[tool], ("mlpipe", "status") if tool == "mlpipe"
                     else ("dvc", "status", "-q"), ok_codes=(0, 1))[0]

    def checkout(self, tool: str) -> float:
        return timed(self.roots[tool], ("mlpipe", "checkout") if tool == "mlpipe"
                     else ("dvc", "checkout", "-q"))[0]


def versioned_data(work: Path, mb: float, files: int, reps: int) -> list[Row]:
    """`add` of each path (cold), then status and checkout after switching commits."""
    repos = DataRepos(work, mb, files)
    rows: list[Row] = []
    for path, label in (("big.bin", f"add a {mb:g} MB file"),
                        ("images", f"add a {files}-file directory")):
        samples = alternate({tool: (lambda t=tool: repos.forget(t),
                                    lambda t=tool, p=path: repos.add(t, p))
                             for tool in repos.roots}, reps, warmup=False)
        rows.append(Row("10", label, samples["mlpipe"], samples["dvc"]))
    for tool, root in repos.roots.items():
        repos.add(tool, "big.bin")
        repos.add(tool, "images")
        commit(root, "v1")
        sh(root, "git", "tag", "v1")
        with (root / "big.bin").open("ab") as out:
            out.write(b"more\n")
        (root / "images/00/0.txt").unlink()
        (root / "images/new.txt").write_text("new\n")
        repos.add(tool, "big.bin")
        repos.add(tool, "images")
        commit(root, "v2")
    status: dict[str, Samples] = {t: Samples() for t in repos.roots}
    checkout: dict[str, Samples] = {t: Samples() for t in repos.roots}
    for _ in range(reps):
        for tool, root in repos.roots.items():
            for rev in ("v1", "main"):
                sh(root, "git", "checkout", "-q", rev)
                status[tool].times.append(repos.status(tool))
                checkout[tool].times.append(repos.checkout(tool))
    rows.append(Row("10", "status after git checkout (data changed)", status["mlpipe"],
                    status["dvc"]))
    rows.append(Row("10", "checkout after git checkout (both paths)", checkout["mlpipe"],
                    checkout["dvc"]))
    for tool, root in repos.roots.items():
        if (root / "images/00/0.txt").exists() or not (root / "images/new.txt").exists():
            raise RuntimeError(f"{tool}: checkout of main did not restore main's images")
    return rows
