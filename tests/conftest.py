"""Helpers that build a world inline: file trees, git repositories, and a CLI invoker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from mlpipe import kinds
from mlpipe.cli.app import app
from mlpipe.kinds.plugin import StageContext, StageKind, StageResult, output_path

PY = sys.executable

# Commits made by tests (and by git inside pre-commit or a clone) need an identity; a fresh
# machine has none configured, so the suite brings its own.
for _var, _value in (("GIT_AUTHOR_NAME", "Test"), ("GIT_AUTHOR_EMAIL", "test@example.com"),
                     ("GIT_COMMITTER_NAME", "Test"), ("GIT_COMMITTER_EMAIL", "test@example.com")):
    os.environ.setdefault(_var, _value)


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write `files` (relative path -> text, dedented) under `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


def git_init(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "Test")
    (root / ".gitignore").write_text(".mlpipe/\n", encoding="utf-8")


def git_commit(root: Path, message: str = "commit") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


Invoke = Callable[..., Result]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that is the current directory for the test."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLPIPE_LOCK_WAIT", "0.5")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return root


@pytest.fixture
def mlpipe() -> Invoke:
    """Run the CLI in-process: mlpipe("run", "--json") -> click Result (stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def statuses(result: Result) -> dict[str, str]:
    """Stage -> status from `run --json` output."""
    return {s["name"]: s["status"] for s in json.loads(result.stdout)["stages"]}


def runs_of(root: Path, stage: str) -> int:
    """How many times a stage's command executed (commands append to runs/<stage>)."""
    path = root / "runs" / stage
    return len(path.read_text().splitlines()) if path.exists() else 0


def counted(stage: str, cmd: str) -> str:
    """A shell command that records its own execution, then does `cmd`."""
    return f"mkdir -p runs && echo x >> runs/{stage} && {cmd}"


@kinds.add_kind
class FakeProduce(StageKind):
    """Writes `text` to its named outputs `data` and `stats` (JSON metrics)."""

    name = "fake_produce"
    required = ("text",)
    metric_outputs = ("stats",)

    def outputs(self, stage: str, config: dict) -> dict[str, str]:
        return {"data": output_path(stage, "data.txt"), "stats": output_path(stage, "stats.json")}

    def run(self, ctx: StageContext) -> StageResult:
        outputs = ctx.stage.outputs
        (ctx.root / outputs["data"]).write_text(str(ctx.stage.config["text"]))
        (ctx.root / outputs["stats"]).write_text(json.dumps({"length": len(
            str(ctx.stage.config["text"]))}))
        return StageResult(summary="produced")


@kinds.add_kind
class FakeConsume(StageKind):
    """Copies its input `source` (an output reference or a path), upper-cased, to `result`."""

    name = "fake_consume"
    required = ("source",)
    inputs = ("source",)

    def outputs(self, stage: str, config: dict) -> dict[str, str]:
        return {"result": output_path(stage, "result.txt")}

    def run(self, ctx: StageContext) -> StageResult:
        text = (ctx.root / ctx.stage.config["source"]).read_text()
        (ctx.root / ctx.stage.outputs["result"]).write_text(text.upper())
        return StageResult()
