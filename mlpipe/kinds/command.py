"""The `command` kind: a shell command, run in the pipeline's root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpipe.errors import StageFailed
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult

TAIL_LINES = 20


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a text file ('' when it does not exist)."""
    try:
        data = path.read_bytes()[-64 * 1024:]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def command_text(config: Mapping[str, Any]) -> str:
    """`cmd` as one shell line; a list of commands runs in order and stops at the first failure."""
    cmd = config["cmd"]
    return cmd if isinstance(cmd, str) else " && ".join(cmd)


class CommandKind(StageKind):
    """Runs `cmd` with the shell; the stage fails when the command exits non-zero."""

    name = "command"
    required = ("cmd",)
    shell_fields = ("cmd",)
    spawns_processes = True

    def check(self, config: Mapping[str, Any]) -> None:
        cmd = config["cmd"]
        if isinstance(cmd, str) and cmd.strip():
            return
        if isinstance(cmd, list) and cmd and all(isinstance(c, str) and c.strip() for c in cmd):
            return
        raise ConfigProblem("cmd", "'cmd' must be a non-empty string or a list of strings")

    def display(self, config: Mapping[str, Any]) -> str | None:
        return command_text(config)

    def run(self, ctx: StageContext) -> StageResult:
        env = {**os.environ, **ctx.env}
        with ctx.stdout_path.open("wb") as out, ctx.stderr_path.open("wb") as err:
            proc = subprocess.run(command_text(ctx.stage.config), shell=True, cwd=ctx.root,
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                  check=False)
        if proc.returncode != 0:
            raise StageFailed(ctx.stage.name, f"command exited with code {proc.returncode}",
                              returncode=proc.returncode, stderr_tail=tail(ctx.stderr_path))
        return StageResult()
