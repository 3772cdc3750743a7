"""`mlpipe init`: a small working pipeline to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.errors import UsageError
from mlpipe.state.fsutil import atomic_write_text
from mlpipe.state.workspace import DEFAULT_FILE, STATE_DIR

TEMPLATE = """\
# An mlpipe pipeline: `mlpipe run` brings every output up to date, running only the stages
# whose deps, params or command changed. `mlpipe status` says what would run and why.
name: {name}
params:
  greeting: hello
stages:
  prepare:
    kind: command
    cmd: mkdir -p data && echo "${{params.greeting}}, world" > data/greeting.txt
    outs: [data/greeting.txt]
  count:
    kind: command
    cmd: wc -w < data/greeting.txt > data/count.txt
    deps: [data/greeting.txt]
    outs: [data/count.txt]
"""


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the pipeline.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a small working mlpipe.yaml and ignore .mlpipe/ in .gitignore."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / DEFAULT_FILE
    if target.exists() and not force:
        raise UsageError(f"{target} already exists (use --force to overwrite it)")
    atomic_write_text(target, TEMPLATE.format(name=directory.resolve().name))
    ignore = directory / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if f"{STATE_DIR}/" not in lines and STATE_DIR not in lines:
        atomic_write_text(ignore, "\n".join([*lines, f"{STATE_DIR}/"]) + "\n")
    typer.echo(f"Wrote {target}. Next: mlpipe run")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
