"""Every example pipeline is reproducible from an earlier commit: its outputs (model cards
and registry entries included) rebuild to the bytes that commit's lock file records, and
the registry of this checkout is left as it was."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import Invoke, git_commit, git_init

from mlpipe.models.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


@pytest.mark.parametrize("use_cache", [False, True], ids=["rebuild", "use-cache"])
@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir()
                                           if (p / "mlpipe.yaml").is_file()))
def test_reproduce_an_earlier_commit_of_every_example(
        example: str, use_cache: bool, tmp_path: Path, mlpipe: Invoke,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the repository holds every example, as this one does: one may read another's files
    repo = tmp_path / "pipelines"
    shutil.copytree(EXAMPLES, repo,
                    ignore=shutil.ignore_patterns("out", ".mlpipe", "*.lock", "*.db"))
    root = repo / example
    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    git_init(repo)
    first = mlpipe("run")
    assert first.exit_code == 0, first.output
    git_commit(repo, "first run")
    (root / "NOTES.md").write_text("a later commit\n")
    git_commit(repo, "notes")
    before = {m.name: Registry(root / ".mlpipe").aliases(m.name)
              for m in Registry(root / ".mlpipe").list()}
    args = ["reproduce", "HEAD~1", *(["--use-cache"] if use_cache else [])]
    result = mlpipe(*args)
    assert result.exit_code == 0, result.output
    assert "DIFFERS" not in result.output
    after = {m.name: Registry(root / ".mlpipe").aliases(m.name)
             for m in Registry(root / ".mlpipe").list()}
    assert after == before
