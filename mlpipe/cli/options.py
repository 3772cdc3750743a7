"""Options shared by several commands, as Annotated aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PipelineFile = Annotated[
    Path,
    typer.Option("--file", "-f", help="Pipeline file (its directory is the pipeline's root).",
                 dir_okay=False, show_default=True),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
Targets = Annotated[list[str] | None, typer.Argument(
    help="Stages to act on (with what they need); all stages when omitted.", show_default=False)]
Downstream = Annotated[bool, typer.Option(
    "--downstream", help="The targets and every stage after them.")]
NoDeps = Annotated[bool, typer.Option("--no-deps", help="Only the targets, not what they need.")]
Overrides = Annotated[list[str] | None, typer.Option(
    "--set", "-S", help="Override a param for this run: -S train.lr=0.1 (repeatable).",
    show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="Run the selected stages even if up to date.")]
