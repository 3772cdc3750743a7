"""GitHub Actions: groups, annotations, job summary and step outputs (environment simulated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Invoke, git, git_commit, git_init, write_tree

from mlpipe import kinds
from mlpipe.kinds.plugin import StageContext, StageKind, StageResult, output_path

PIPELINE = """\
    params: {quality: 0.8}
    stages:
      train:
        kind: command
        cmd: >-
          echo training-log-line &&
          python -c "import json; json.dump({'acc': ${params.quality}}, open('m.json', 'w'))"
        metrics: [m.json]
      publish:
        kind: command
        cmd: echo publish-log-line && echo broken >&2 && exit 4
        deps: [m.json]
"""


@kinds.add_kind
class FakeChecks(StageKind):
    """Writes a validation-style `report` with one failed check and one failed gate."""

    name = "fake_checks"

    def outputs(self, stage: str, config: dict) -> dict[str, str]:
        return {"report": output_path(stage, "report.json")}

    def run(self, ctx: StageContext) -> StageResult:
        (ctx.root / ctx.stage.outputs["report"]).write_text(json.dumps({
            "checks": [{"check": "max", "passed": False, "message": "column 'x': max 9 > 5"},
                       {"check": "min", "passed": True, "message": "fine"}],
            "gates": [{"gate": "acc >= 0.9", "passed": False}]}))
        return StageResult()


@pytest.fixture
def actions(project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"summary": project.parent / "summary.md", "output": project.parent / "output.txt"}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project))
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    return files


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_run_groups_logs_annotates_failures_and_writes_summary_and_outputs(
        project: Path, mlpipe: Invoke, actions: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    base = git_commit(project, "base")
    mlpipe("run", "train")
    git_commit(project, "base metrics")
    git(project, "update-ref", "refs/remotes/origin/main", git(project, "rev-parse", "HEAD"))
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    (project / "mlpipe.yaml").write_text(
        (project / "mlpipe.yaml").read_text().replace("quality: 0.8", "quality: 0.9"))
    actions["summary"].unlink()
    actions["output"].unlink()

    result = mlpipe("run")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("::group::train (ran in "))
    assert lines[start + 1] == "training-log-line" and lines[start + 2] == "::endgroup::"
    publish = next(i for i, line in enumerate(lines) if line.startswith("::group::publish"))
    assert lines[publish + 1:publish + 4] == ["publish-log-line", "broken", "::endgroup::"]
    assert lines[publish + 4] == (
        "::error title=mlpipe%3A stage 'publish' failed::command exited with code 4")

    summary = actions["summary"].read_text()
    assert "| `train` | ran |" in summary and "| `publish` | failed |" in summary
    assert "### Metrics (change against `origin/main`)" in summary
    assert "| m.json | `acc` | 0.8 | 0.9 | +0.1 |" in summary
    assert "```mermaid\nflowchart TD" in summary and "s0 --> s1" in summary
    outputs = _outputs(actions["output"])
    assert outputs == {"ok": "false", "stages-run": "train",
                       "metrics": json.dumps({"m.json": {"acc": 0.9}})}
    assert base != git(project, "rev-parse", "HEAD")


def test_failed_checks_and_gates_are_listed_in_the_summary(
        project: Path, mlpipe: Invoke, actions: dict[str, Path]) -> None:
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          checks: {kind: fake_checks}
    """})
    assert mlpipe("run").exit_code == 0
    summary = actions["summary"].read_text()
    assert "### Failed gates and checks" in summary
    assert "- `checks`: column 'x': max 9 > 5" in summary
    assert "- `checks`: acc >= 0.9" in summary
    assert "fine" not in summary
    assert "### Metrics\n" in summary  # no pull request: values without a change column


def test_an_invalid_pipeline_becomes_an_annotation_on_its_line(
        project: Path, mlpipe: Invoke, actions: dict[str, Path]) -> None:
    write_tree(project, {"ml/mlpipe.yaml": PIPELINE.replace("kind: command", "kind: comand", 1)})
    for args in (("run", "-f", "ml/mlpipe.yaml"), ("check", "ml/mlpipe.yaml")):
        result = mlpipe(*args)
        assert result.exit_code == 2
        assert result.stdout.splitlines()[-1] == (
            "::error file=ml/mlpipe.yaml,line=4,col=5,title=mlpipe%3A invalid pipeline::"
            "stage 'train': unknown kind 'comand' (did you mean 'command'?); known kinds: "
            + ", ".join(kinds.known()))


def test_status_writes_what_would_run(project: Path, mlpipe: Invoke,
                                      actions: dict[str, Path]) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    assert mlpipe("status", "--fail-if-stale").exit_code == 3
    summary = actions["summary"].read_text()
    assert "| `train` | run | never ran |" in summary
    assert _outputs(actions["output"]) == {"stale": "true", "stages-stale": "train,publish"}


def test_nothing_github_outside_actions(project: Path, mlpipe: Invoke,
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    write_tree(project, {"mlpipe.yaml": PIPELINE})
    result = mlpipe("run")
    assert "::" not in result.stdout and not summary.exists()
