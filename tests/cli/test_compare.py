"""`params diff`, `metrics diff`, `metrics show` across commits of a temporary repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from conftest import Invoke, git, git_commit, git_init, write_tree

PIPELINE = """\
    params_file: params.yaml
    params: {train: {epochs: 3}}
    stages:
      train:
        kind: command
        cmd: >-
          python -c "import json; a = ${params.train.alpha};
          json.dump({'acc': round(1 - a / 10, 4), 'nested': {'loss': a}, 'name': 'm'},
          open('metrics.json', 'w'))"
        params: [train.epochs]
        metrics: [metrics.json]
"""


def _set_alpha(root: Path, alpha: float) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump({"train": {"alpha": alpha}}))


def _history(project: Path, mlpipe: Invoke, commit_metrics: bool = False) -> list[str]:
    """Three commits, each after a run with alpha 1, 2, 3, lock file committed."""
    git_init(project)
    ignored = "" if commit_metrics else "metrics.json\n"
    write_tree(project, {"mlpipe.yaml": PIPELINE, ".gitignore": f".mlpipe/\n{ignored}"})
    shas = []
    for alpha in (1, 2, 3):
        _set_alpha(project, alpha)
        assert mlpipe("run").exit_code == 0
        shas.append(git_commit(project, f"alpha {alpha}"))
    return shas


def test_params_diff_defaults_to_head_against_the_work_tree(project: Path, mlpipe: Invoke) -> None:
    _history(project, mlpipe)
    assert mlpipe("params", "diff").stdout.strip() == "no changes between HEAD and workspace"

    _set_alpha(project, 0.5)
    out = json.loads(mlpipe("params", "diff", "--json").stdout)
    assert out["old"] == "HEAD" and out["new"] == "workspace"
    assert out["changes"] == [{"path": "", "key": "train.alpha", "old": 3, "new": 0.5,
                               "change": -2.5}]
    every = json.loads(mlpipe("params", "diff", "--all", "--json").stdout)["changes"]
    assert {c["key"] for c in every} == {"train.alpha", "train.epochs"}


def test_params_and_metrics_diff_between_two_revisions(project: Path, mlpipe: Invoke) -> None:
    first, _, third = _history(project, mlpipe)
    params = json.loads(mlpipe("params", "diff", first, third, "--json").stdout)["changes"]
    assert [(c["key"], c["old"], c["new"]) for c in params] == [("train.alpha", 1, 3)]

    metrics = json.loads(mlpipe("metrics", "diff", first, "HEAD", "--json").stdout)["changes"]
    assert {(c["key"], c["old"], c["new"]) for c in metrics} == {
        ("acc", 0.9, 0.7), ("nested.loss", 1, 3)}
    acc = next(c for c in metrics if c["key"] == "acc")
    assert acc["path"] == "metrics.json" and abs(acc["change"] + 0.2) < 1e-9

    table = mlpipe("metrics", "diff", "HEAD~2", "--md")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[:2] == ["| Path | Name | Old | New | Change |",
                                             "|---|---|---|---|---|"]
    assert "| metrics.json | `acc` | 0.9 | 0.7 | -0.2 |" in table.stdout


def test_metrics_at_a_revision_come_from_the_store_not_the_work_tree(
        project: Path, mlpipe: Invoke) -> None:
    first, *_ = _history(project, mlpipe)
    (project / "metrics.json").unlink()  # the lock file's hash finds it in the store
    metrics = json.loads(mlpipe("metrics", "diff", first, "HEAD", "--json").stdout)["changes"]
    assert {c["key"] for c in metrics} == {"acc", "nested.loss"}
    shutil.rmtree(project / ".mlpipe")  # no store: nothing to compare, and no crash
    assert json.loads(mlpipe("metrics", "diff", first, "HEAD", "--json").stdout)["changes"] == []


def test_committed_metrics_files_are_read_from_git(project: Path, mlpipe: Invoke) -> None:
    first, *_ = _history(project, mlpipe, commit_metrics=True)
    shutil.rmtree(project / ".mlpipe")
    metrics = json.loads(mlpipe("metrics", "diff", first, "HEAD", "--json").stdout)["changes"]
    assert {(c["key"], c["old"], c["new"]) for c in metrics} == {
        ("acc", 0.9, 0.7), ("nested.loss", 1, 3)}


def test_metrics_show_per_commit_with_a_plot(project: Path, mlpipe: Invoke) -> None:
    shas = _history(project, mlpipe)
    result = mlpipe("metrics", "show", "--all-commits", "--plot", "trend.png", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["commit"] for r in rows] == shas
    assert [r["metrics"]["acc"] for r in rows] == [0.9, 0.8, 0.7]
    assert (project / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    now = json.loads(mlpipe("metrics", "show", "--json").stdout)
    assert now == [{"label": "workspace", "commit": None, "source": "workspace",
                    "metrics": {"acc": 0.7, "nested.loss": 3, "name": "m"}}]
    text = mlpipe("metrics", "show", "--all-commits").stdout
    assert f"{shas[0][:8]} alpha 1" in text and "0.8" in text


def test_metrics_show_falls_back_to_the_run_history(project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE, ".gitignore": ".mlpipe/\nmlpipe.lock\n"})
    _set_alpha(project, 4)
    sha = git_commit(project, "no lock committed")
    assert mlpipe("run").exit_code == 0
    rows = json.loads(mlpipe("metrics", "show", "--all-commits", "--json").stdout)
    assert rows == [{"label": f"{sha[:8]} no lock committed", "commit": sha,
                     "source": "history", "metrics": {"acc": 0.6, "nested.loss": 4,
                                                      "name": "m"}}]


def test_bad_revisions_and_a_broken_pipeline_at_a_revision(project: Path, mlpipe: Invoke) -> None:
    _history(project, mlpipe)
    unknown = mlpipe("params", "diff", "no-such-branch")
    assert unknown.exit_code == 2 and "no-such-branch: not a revision" in unknown.stderr

    (project / "mlpipe.yaml").write_text("stages: [\n")
    git_commit(project, "broken")
    broken = mlpipe("params", "diff", "HEAD", "HEAD~1")
    assert broken.exit_code == 2
    assert broken.stderr.startswith("mlpipe: error: HEAD:mlpipe.yaml:")
    assert len(broken.stderr.strip().splitlines()) == 1

    git(project, "rm", "-q", "mlpipe.yaml")
    git_commit(project, "gone")
    gone = mlpipe("metrics", "diff", "HEAD", "HEAD~2", "-f", "mlpipe.yaml")
    assert gone.exit_code == 2 and "no pipeline file at that revision" in gone.stderr
