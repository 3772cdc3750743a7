"""The git blob-id shortcut only stands where git's blob is the work-tree file, and git looked.

Above `GIT_MIN_BYTES` of files to read, mlpipe asks git for blob ids instead of reading clean
tracked files. A file whose work-tree bytes differ from its blob (eol conversion, a
clean/smudge filter like Git LFS) or that git does not compare (assume-unchanged,
skip-worktree) must be read; otherwise an edited file passes for the old one and the stage
that reads it does not run. And git is asked about any number of files: a tracked directory
of 120,000 files works on a fresh state database.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import Invoke, counted, git, git_commit, git_init, runs_of, statuses, write_tree

from mlpipe.state.filehash import GIT_MIN_BYTES

LINES = GIT_MIN_BYTES // 64 + 1000  # lines of 64 bytes: the file alone is above the threshold

PIPELINE = f"""
stages:
  count:
    kind: command
    cmd: {counted("count", "mkdir -p out && tr -d a < big.txt | wc -c > out/bytes.txt")}
    deps: [big.txt]
    outs: [out/bytes.txt]
"""


def write_big(path: Path, line: bytes) -> None:
    path.write_bytes(line * LINES)


def size_recorded(project: Path) -> int:
    """What the stage counted: the bytes of big.txt that are not `a`."""
    return int((project / "out/bytes.txt").read_text())


@pytest.fixture
def repo(project: Path) -> Path:
    git_init(project)
    (project / ".gitignore").write_text(".mlpipe/\nout/\nruns/\n")
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    return project


def run_and_commit(mlpipe: Invoke, project: Path) -> None:
    result = mlpipe("run", "--json")
    assert result.exit_code == 0, result.output
    git_commit(project, "run")


class TestShortcutRefused:
    def test_eol_conversion(self, repo: Path, mlpipe: Invoke) -> None:
        write_big(repo / "big.txt", b"x" * 63 + b"\n")
        git_commit(repo, "data")
        run_and_commit(mlpipe, repo)
        assert size_recorded(repo) == LINES * 64
        (repo / ".gitattributes").write_text("big.txt text eol=crlf\n")
        (repo / "big.txt").unlink()
        git(repo, "checkout", "--", "big.txt")  # CRLF now; the blob is the same LF one
        assert git(repo, "diff-files", "--name-only") == ""  # git calls it clean
        result = mlpipe("run", "--json")
        assert statuses(result) == {"count": "ran"}
        assert size_recorded(repo) == LINES * 65 and runs_of(repo, "count") == 2

    def test_clean_smudge_filter(self, repo: Path, mlpipe: Invoke) -> None:
        # Like Git LFS: the blob is a pointer, whatever the work-tree file holds.
        git(repo, "config", "filter.pointer.clean", "cat >/dev/null; echo pointer")
        git(repo, "config", "filter.pointer.smudge", "cat")
        (repo / ".gitattributes").write_text("big.txt filter=pointer\n")
        write_big(repo / "big.txt", b"a" * 63 + b"\n")
        git_commit(repo, "data")
        run_and_commit(mlpipe, repo)
        assert size_recorded(repo) == LINES
        write_big(repo / "big.txt", b"b" * 63 + b"\n")  # same size, so git is asked again
        git(repo, "add", "big.txt")  # the same pointer blob
        assert git(repo, "diff-files", "--name-only") == ""
        result = mlpipe("run", "--json")
        assert statuses(result) == {"count": "ran"}
        assert size_recorded(repo) == LINES * 64

    @pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
    def test_files_git_does_not_compare(self, repo: Path, mlpipe: Invoke, flag: str) -> None:
        write_big(repo / "big.txt", b"a" * 63 + b"\n")
        git_commit(repo, "data")
        run_and_commit(mlpipe, repo)
        assert size_recorded(repo) == LINES
        git(repo, "update-index", flag, "big.txt")
        write_big(repo / "big.txt", b"b" * 63 + b"\n")
        assert git(repo, "diff-files", "--name-only") == ""  # git calls it clean
        result = mlpipe("run", "--json")
        assert statuses(result) == {"count": "ran"}
        assert size_recorded(repo) == LINES * 64


class TestShortcutKept:
    def test_a_clean_file_after_checkout_is_not_read(self, repo: Path, mlpipe: Invoke,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        import mlpipe.state.filehash as filehash

        write_big(repo / "big.txt", b"a" * 63 + b"\n")
        git_commit(repo, "v1")
        run_and_commit(mlpipe, repo)
        write_big(repo / "big.txt", b"b" * 31 + b"\n")
        git_commit(repo, "v2")
        run_and_commit(mlpipe, repo)
        git(repo, "checkout", "-q", "HEAD~2")
        read: list[Path] = []
        real = filehash.hash_file
        monkeypatch.setattr(filehash, "hash_file", lambda p: read.append(p) or real(p))
        result = mlpipe("run", "--json")
        assert statuses(result) == {"count": "restored"}
        assert repo / "big.txt" not in read


FILES = 120_000


def test_a_tracked_directory_of_120000_files(repo: Path, mlpipe: Invoke) -> None:
    """Paths alone are ~3.5 MB, past the argument limit; git must get them in batches."""
    blob = git(repo, "hash-object", "-w", "--stdin")  # the empty file
    listing = "".join(f"100644 {blob}\tdata/shard-{i // 1000:03d}/file-{i:06d}.txt\n"
                      for i in range(FILES))
    subprocess.run(["git", "update-index", "--index-info"], cwd=repo, input=listing,
                   text=True, check=True)
    subprocess.run(["git", "checkout-index", "--all", "--force"], cwd=repo, check=True)
    write_big(repo / "big.txt", b"a" * 63 + b"\n")  # with it, git is worth asking
    write_tree(repo, {"mlpipe.yaml": f"""
        stages:
          count:
            kind: command
            cmd: {counted("count", "mkdir -p out && find data -type f | wc -l > out/n.txt")}
            deps: [big.txt, data]
            outs: [out/n.txt]
        """})
    git_commit(repo, "data")
    assert len(git(repo, "ls-files", "data").splitlines()) == FILES
    result = mlpipe("run", "--json")
    assert result.exit_code == 0, result.output
    assert statuses(result) == {"count": "ran"}
    assert int((repo / "out/n.txt").read_text()) == FILES
    assert statuses(mlpipe("run", "--json")) == {"count": "cached"}  # up to date
