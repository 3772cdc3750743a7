"""action.yml and the example workflow: valid against GitHub's schemas, and the action works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import write_tree

REPO = Path(__file__).resolve().parents[1]
CHECK = [sys.executable, "-m", "check_jsonschema"]


@pytest.mark.parametrize(("schema", "file"), [
    ("vendor.github-actions", "action.yml"),
    ("vendor.github-workflows", "examples/github/mlpipe.yml"),
])
def test_valid_against_githubs_published_schema(schema: str, file: str, tmp_path: Path) -> None:
    ok = subprocess.run([*CHECK, "--builtin-schema", schema, str(REPO / file)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = yaml.safe_load((REPO / file).read_text())
    broken["runs" if "runs" in broken else "jobs"]["bogus"] = 1
    bad = tmp_path / Path(file).name
    bad.write_text(yaml.safe_dump(broken))
    assert subprocess.run([*CHECK, "--builtin-schema", schema, str(bad)],
                          capture_output=True).returncode != 0


def _action_step(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the action's mlpipe step as the runner would, with `mlpipe` on PATH."""
    step = yaml.safe_load((REPO / "action.yml").read_text())["runs"]["steps"][-1]
    bin_dir = cwd.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mlpipe").write_text(f"#!/bin/sh\nexec {sys.executable} -m mlpipe \"$@\"\n")
    (bin_dir / "mlpipe").chmod(0o755)
    full = {**os.environ, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(cwd.parent / "out.txt"),
            "GITHUB_STEP_SUMMARY": str(cwd.parent / "summary.md")}
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=full,
                          capture_output=True, text=True)


def test_the_action_step_routes_each_command(project: Path) -> None:
    write_tree(project, {"p/pipe.yaml": """\
        stages:
          hello: {kind: command, cmd: echo hi > hi.txt, outs: [hi.txt]}
    """})
    base = {"MLPIPE_FILE": "p/pipe.yaml", "MLPIPE_ARGS": ""}
    check = _action_step({**base, "MLPIPE_COMMAND": "check"}, project)
    assert check.returncode == 0 and "p/pipe.yaml: ok (1 stages)" in check.stdout
    stale = _action_step({**base, "MLPIPE_COMMAND": "status", "MLPIPE_ARGS": "--fail-if-stale"},
                         project)
    assert stale.returncode == 3
    run = _action_step({**base, "MLPIPE_COMMAND": "run", "MLPIPE_ARGS": "-j 2"}, project)
    assert run.returncode == 0, run.stderr
    assert (project / "p/hi.txt").read_text() == "hi\n"
    assert "stages-run=hello" in (project.parent / "out.txt").read_text()
    wrong = _action_step({**base, "MLPIPE_COMMAND": "deploy"}, project)
    assert wrong.returncode == 2 and "unknown command 'deploy'" in wrong.stdout



CURRENT_MAJORS = {"actions/checkout": 6, "actions/setup-python": 6, "actions/cache": 5,
                  "actions/cache/restore": 5, "actions/cache/save": 5}


@pytest.mark.parametrize("file", ["action.yml", "examples/github/mlpipe.yml",
                                  "examples/github/monitor.yml"])
def test_actions_are_on_their_current_major_versions(file: str) -> None:
    used = re.findall(r"uses: (actions/[\w/-]+)@v(\d+)", (REPO / file).read_text())
    assert used
    for action, major in used:
        assert int(major) >= CURRENT_MAJORS[action], f"{file}: {action}@v{major}"


def test_the_example_workflow_runs_on_push_to_main_for_every_pipeline_file(
        tmp_path: Path) -> None:
    workflow = yaml.safe_load((REPO / "examples/github/mlpipe.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"] == {"branches": ["main"]} and "pull_request" in triggers
    find = workflow["jobs"]["find"]["steps"][-1]["run"]
    out = tmp_path / "output"
    subprocess.run(["bash", "-e", "-c", find], cwd=REPO, check=True,
                   env={**os.environ, "GITHUB_OUTPUT": str(out)})
    name, _, found = out.read_text().strip().partition("=")
    pipelines = json.loads(found)
    assert name == "pipelines"
    assert {"examples/pipelines/iris/mlpipe.yaml",
            "examples/pipelines/forecast/mlpipe.yaml"} <= set(pipelines)
    matrix = workflow["jobs"]["pipeline"]["strategy"]["matrix"]["file"]
    assert matrix == "${{ fromJSON(needs.find.outputs.pipelines) }}"
