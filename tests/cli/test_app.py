"""The `mlpipe` command itself: help options and shell completion, in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _mlpipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlpipe", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args", [("-h",), ("--help",)])
def test_short_and_long_help_list_the_commands(args: tuple[str, ...]) -> None:
    result = _mlpipe(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: ")
    assert "\n  run " in result.stdout and "\n  status " in result.stdout


def test_a_command_takes_short_help() -> None:
    result = _mlpipe("run", "-h")
    assert result.returncode == 0
    assert "Usage: " in result.stdout and "--jobs" in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_for_each_shell_names_the_command(shell: str) -> None:
    result = _mlpipe("--show-completion", shell)
    assert result.returncode == 0, result.stderr
    assert "_MLPIPE_COMPLETE" in result.stdout


def test_completion_completes_a_command_name() -> None:
    env = {**os.environ, "COMP_WORDS": "mlpipe sta", "COMP_CWORD": "1",
           "_MLPIPE_COMPLETE": "complete_bash"}
    script = Path(sys.executable).with_name("mlpipe")  # the installed command
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["status"]
