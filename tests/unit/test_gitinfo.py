"""gitinfo keeps few repositories open, so a long process does not pile up git processes."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import git_commit, git_init, write_tree

from mlpipe.vcs import gitinfo


def _git_children() -> int:
    me = str(os.getpid())
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        if name == "git" and rest.split()[1] == me:
            count += 1
    return count


def test_visiting_many_repositories_keeps_few_git_processes(tmp_path: Path) -> None:
    gitinfo.close_all()
    before = _git_children()
    for n in range(12):
        root = tmp_path / f"repo{n}"
        write_tree(root, {"a.txt": f"{n}\n"})
        git_init(root)
        git_commit(root)
        assert gitinfo.file_at_rev(root, "HEAD", root / "a.txt") == f"{n}\n".encode()
    # each open repository may hold two `git cat-file` processes; 12 would hold 24
    assert _git_children() - before <= 2 * gitinfo._KEEP
    gitinfo.close_all()
    assert _git_children() == before
