"""`mlpipe report`: write one self-contained HTML report about the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.state.workspace import DEFAULT_FILE

Output = Annotated[Path, typer.Option(
    "--output", "-o", help="The HTML file to write (replaced atomically).", dir_okay=False)]


def report(file: opt.PipelineFile = Path(DEFAULT_FILE), output: Output = Path("report.html")
           ) -> None:
    """Write an HTML report: DAG, runs per commit, metrics charts, validation, registry, cards."""
    from mlpipe import report as reportlib

    facts = reportlib.write(file, output)
    versions = sum(len(m.versions) for m in facts.models)
    typer.echo(f"report written to {output}: {_count(len(facts.stages), 'stage')}, "
               f"{_count(len(facts.commits), 'commit')} with runs, "
               f"{_count(len(facts.metrics), 'metric')}, {_count(len(facts.models), 'model')} "
               f"({_count(versions, 'version')})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def register(app: typer.Typer) -> None:
    """Add `mlpipe report` to the app.

    Args:
        app: The root typer app.
    """
    app.command("report")(report)
