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
    assert "### Metrics (against `origin/main`)" in summary
    assert "| m.json | `acc` | 0.8 | 0.9 | +0.1 |" in summary
    assert "```mermaid\nflowchart TD" in summary and "s0 --> s1" in summary
    outputs = _outputs(actions["output"])
    assert outputs == {"ok": "false", "stages-run": "train",
                       "metrics": json.dumps({"m.json": {"acc": 0.9}}), "lock-matches": "false"}
    assert base != git(project, "rev-parse", "HEAD")


def test_failed_checks_and_gates_are_listed_in_the_summary(
        project: Path, mlpipe: Invoke, actions: dict[str, Path]) -> None:
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          checks: {kind: fake_checks}
    """})
    assert mlpipe("run").exit_code == 0
    summary = actions["summary"].read_text()
    assert "### Failed checks and gates" in summary
    assert "- :x: `checks`: check failed: column 'x': max 9 > 5" in summary
    assert "- :x: `checks`: gate failed: acc >= 0.9" in summary
    assert "fine" not in summary
    assert "### Metrics" not in summary and "### Params" not in summary  # none, no base


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


@kinds.add_kind
class FakeGate(StageKind):
    """Writes an evaluation-style `report` whose gate fails: acc, needs >= params.floor."""

    name = "fake_gate"

    def outputs(self, stage: str, config: dict) -> dict[str, str]:
        return {"report": output_path(stage, "report.json")}

    def run(self, ctx: StageContext) -> StageResult:
        acc = json.loads((ctx.root / "m.json").read_text())["acc"] - 0.0556
        (ctx.root / ctx.stage.outputs["report"]).write_text(json.dumps({"gates": [
            {"gate": "acc >= 0.95", "metric": "acc", "value": acc, "threshold": 0.95,
             "passed": False, "message": f"gate failed: acc {acc:.4g} >= 0.95"}]}))
        return StageResult()


REVIEWED = """\
    params: {quality: 0.8, other: 1}
    stages:
      train:
        kind: command
        cmd: >-
          python -c "import json; json.dump({'acc': ${params.quality}}, open('m.json', 'w'))"
        metrics: [m.json]
      gate: {kind: fake_gate, deps: [m.json]}
"""


def _sections(markdown: str) -> dict[str, str]:
    """Heading (without the ### and the base) -> its text."""
    parts = markdown.split("\n### ")
    found = {"": parts[0]}
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        found[heading.split(" (against")[0]] = body
    return found


def _table(text: str) -> list[dict[str, str]]:
    """The rows of the first GitHub-flavoured Markdown table in `text`, by column name."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    assert set(lines[1]) <= set("|-"), lines[1]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


def test_the_summary_reads_as_a_review_of_the_change(
        project: Path, mlpipe: Invoke, actions: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": REVIEWED})
    (project / ".gitignore").write_text(".mlpipe/\nm.json\nout/\n")
    first = mlpipe("run")
    assert first.exit_code == 0, first.stderr
    git_commit(project, "base")
    git(project, "update-ref", "refs/remotes/origin/main", "HEAD")
    (project / "mlpipe.yaml").write_text(REVIEWED.replace("quality: 0.8", "quality: 0.9"))
    mlpipe("run")
    git_commit(project, "better model, lock re-run")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    actions["summary"].unlink()

    assert mlpipe("run").exit_code == 0  # CI: nothing left to run, the lock matches
    text = actions["summary"].read_text()
    sections = _sections(text)
    assert ":white_check_mark: `mlpipe.lock` matches the pipeline" in sections[""]
    assert _table(sections["Stages this change makes run"]) == [
        {"Stage": "`train`", "Why": "param quality 0.8 -> 0.9"},
        {"Stage": "`gate`", "Why": "dep m.json changed"}]
    assert _table(sections["Params"]) == [
        {"Name": "`quality`", "Old": "0.8", "New": "0.9", "Change": "+0.1"}]
    assert _table(sections["Metrics"]) == [
        {"Path": "m.json", "Name": "`acc`", "Old": "0.8", "New": "0.9", "Change": "+0.1"}]
    assert sections["Failed checks and gates"].strip() == (
        "- :x: `gate`: gate failed: acc 0.8444, needs >= 0.95")
    assert "    class s0,s1 changed" in sections["Pipeline"]
    assert _outputs(actions["output"])["lock-matches"] == "true"

    (project / "mlpipe.yaml").write_text(REVIEWED.replace("quality: 0.8", "quality: 0.7"))
    git_commit(project, "param edited, lock not re-run")
    actions["summary"].unlink()
    mlpipe("run")
    sections = _sections(actions["summary"].read_text())
    assert ":x: `mlpipe.lock` does not match the pipeline as committed" in sections[""]
    assert "which does not match the pipeline" in sections["Stages this change makes run"]
    assert _table(sections[""]) == [{"Stage": "`train`", "Why": "param quality 0.9 -> 0.7"},
                                    {"Stage": "`gate`", "Why": "upstream 'train' will run"}]


def test_the_summary_stays_under_githubs_limit() -> None:
    from mlpipe.cli import summary
    from mlpipe.revisions.diffs import Change

    metrics = [Change("m.json", f"metric_{i:06d}_" + "x" * 60, i, i + 1) for i in range(40_000)]
    review = summary.Review(name="big", lock="mlpipe.lock", mismatched=(), base="origin/main",
                            metrics=metrics, mermaid="flowchart TD\n" + "    a --> b\n" * 90_000)
    text = summary.render(review)
    assert len(text.encode()) <= summary.SUMMARY_LIMIT
    assert "39700 more rows not shown" in text
    assert "Sections left out to stay under GitHub's summary size limit" in text
    assert text.startswith("## mlpipe: big\n\n**Lock file:** :white_check_mark:")


def test_status_in_a_fresh_clone_gates_on_the_lock_not_on_missing_outputs(
        project: Path, mlpipe: Invoke, actions: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": REVIEWED})
    (project / ".gitignore").write_text(".mlpipe/\nm.json\nout/\n")
    assert mlpipe("run").exit_code == 0
    git_commit(project, "ran")
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    monkeypatch.chdir(clone)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(clone))
    actions["summary"].unlink()
    actions["output"].unlink()

    assert mlpipe("status").exit_code == 0
    assert _outputs(actions["output"]) == {"stale": "false", "stages-stale": ""}
    sections = _sections(actions["summary"].read_text())
    assert ":white_check_mark: `mlpipe.lock` matches" in sections[""]
    assert "out m.json missing" in sections["In this work tree"]  # the empty CI work tree

    (clone / "mlpipe.yaml").write_text(REVIEWED.replace("other: 1", "other: 2")
                                       .replace("quality: 0.8", "quality: 0.5"))
    actions["output"].unlink()
    assert mlpipe("status").exit_code == 0
    assert _outputs(actions["output"]) == {"stale": "true", "stages-stale": "train,gate"}
