"""examples/github/monitor.yml: valid against GitHub's schema, and its monitor step's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples/github/monitor.yml"
CHECK = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]


def test_valid_against_githubs_published_schema(tmp_path: Path) -> None:
    ok = subprocess.run([*CHECK, str(WORKFLOW)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["monitor"]["steps"][0]["bogus"] = 1
    bad = tmp_path / "monitor.yml"
    bad.write_text(yaml.safe_dump(broken))
    assert subprocess.run([*CHECK, str(bad)], capture_output=True).returncode != 0


def test_it_runs_on_a_schedule_and_proposes_the_lock_file() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]
    steps = workflow["jobs"]["monitor"]["steps"]
    monitor = next(s for s in steps if s.get("id") == "monitor")
    assert "mlpipe monitor \"$MODEL\"" in monitor["run"] and "--trigger" in monitor["run"]
    propose = next(s for s in steps if "create-pull-request" in s.get("uses", ""))
    assert propose["with"]["add-paths"] == "mlpipe.lock"
    assert "exit-code == '0'" in propose["if"]


def _monitor_step(code: int, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path,
                                                      Path]:
    """The monitor step's script, run as the runner would, with a stand-in `mlpipe`."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["monitor"]["steps"]
    script = next(s for s in steps if s.get("id") == "monitor")["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mlpipe"
    fake.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\n'
                    f'echo \'{{"alarm": true}}\'\nexit {code}\n')
    fake.chmod(0o755)
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MODEL": "iris@champion",
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True,
                          text=True)
    return done, output, summary


@pytest.mark.parametrize(("code", "step_code"), [(0, 0), (3, 0), (1, 1), (2, 2)])
def test_the_monitor_step_passes_on_the_exit_code(code: int, step_code: int,
                                                  tmp_path: Path) -> None:
    done, output, summary = _monitor_step(code, tmp_path)
    assert done.returncode == step_code, done.stderr
    assert output.read_text() == f"exit-code={code}\n"
    assert '{"alarm": true}' in summary.read_text()
    assert (tmp_path / "args").read_text().split() == [
        "monitor", "iris@champion", "--logs", "predictions", "--since", "24h", "--trigger",
        "--json"]
    assert ("::warning::" in done.stdout) is (code == 3)
