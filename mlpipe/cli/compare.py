"""`mlpipe params diff`, `mlpipe metrics diff` and `mlpipe metrics show`: across commits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.state.workspace import DEFAULT_FILE

if TYPE_CHECKING:
    from mlpipe.revisions.diffs import Change

params_app = typer.Typer(help="Params across commits.", no_args_is_help=True)
metrics_app = typer.Typer(help="Metrics across commits.", no_args_is_help=True)

RevA = Annotated[str, typer.Argument(help="Old revision.")]
RevB = Annotated[str | None, typer.Argument(
    help="New revision (default: the work tree).", show_default=False)]
ShowAll = Annotated[bool, typer.Option("--all", help="Show unchanged values too.")]
Markdown = Annotated[bool, typer.Option("--md", help="Print a Markdown table.")]


def _print(changes: list[Change], with_path: bool, as_json: bool, as_md: bool,
           labels: tuple[str, str]) -> None:
    from mlpipe.revisions import diffs

    if as_json:
        typer.echo(json.dumps({"old": labels[0], "new": labels[1],
                               "changes": [c.to_dict() for c in changes]}, indent=2))
        return
    if as_md:
        typer.echo(diffs.markdown(changes, with_path), nl=False)
        return
    if not changes:
        typer.echo(f"no changes between {labels[0]} and {labels[1]}")
        return
    from rich.table import Table

    from mlpipe.cli.render import stdout_console

    table = Table(box=None, header_style="bold")
    for column in (["Path"] if with_path else []) + ["Name", labels[0], labels[1], "Change"]:
        table.add_column(column, justify="right" if column == "Change" else "left")
    for c in changes:
        cells = [c.path] if with_path else []
        table.add_row(*cells, c.key, diffs.format_value(c.old), diffs.format_value(c.new),
                      diffs.format_delta(c.delta))
    stdout_console().print(table)


@params_app.command("diff")
def params_diff(rev_a: RevA = "HEAD", rev_b: RevB = None,
                file: opt.PipelineFile = Path(DEFAULT_FILE), show_all: ShowAll = False,
                as_json: opt.Json = False, as_md: Markdown = False) -> None:
    """Params that differ between two revisions (default: HEAD against the work tree)."""
    from mlpipe.revisions import diffs
    from mlpipe.revisions import snapshot as revisions

    old, new = revisions.snapshot(file, rev_a), revisions.snapshot(file, rev_b)
    changes = diffs.diff_values(old.params, new.params, show_all=show_all)
    _print(changes, False, as_json, as_md, (old.label, new.label))


@metrics_app.command("diff")
def metrics_diff(rev_a: RevA = "HEAD", rev_b: RevB = None,
                 file: opt.PipelineFile = Path(DEFAULT_FILE), show_all: ShowAll = False,
                 as_json: opt.Json = False, as_md: Markdown = False) -> None:
    """Metrics that differ between two revisions (default: HEAD against the work tree)."""
    from mlpipe.api.fetch import objects
    from mlpipe.revisions import diffs
    from mlpipe.revisions import snapshot as revisions

    old = revisions.snapshot(file, rev_a, objects)
    new = revisions.snapshot(file, rev_b, objects)
    for line in (*old.unavailable, *new.unavailable):
        typer.echo(f"mlpipe: warning: {line}", err=True)
    changes = diffs.diff_metrics(old.metrics, new.metrics, show_all=show_all)
    _print(changes, True, as_json, as_md, (old.label, new.label))


@metrics_app.command("show")
def metrics_show(
    file: opt.PipelineFile = Path(DEFAULT_FILE),
    all_commits: Annotated[bool, typer.Option(
        "--all-commits", help="One row per commit whose lock file recorded metrics.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Also draw the metrics over commits as a PNG.", dir_okay=False,
        show_default=False)] = None,
    as_json: opt.Json = False,
) -> None:
    """Metrics of the work tree, or per commit with --all-commits (oldest first)."""
    from mlpipe.revisions import metrics_log

    rows = metrics_log.per_commit(file) if all_commits else [metrics_log.current(file)]
    if plot is not None:
        metrics_log.plot(rows, plot)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    from rich.table import Table

    from mlpipe.cli.render import stdout_console
    from mlpipe.revisions.diffs import format_value

    names = sorted({name for row in rows for name in row.metrics})
    table = Table(box=None, header_style="bold")
    table.add_column("Commit")
    for name in names:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(row.label, *(format_value(row.metrics.get(n)) for n in names))
    stdout_console().print(table)
    if plot is not None:
        typer.echo(f"plot written to {plot}")


def register(app: typer.Typer) -> None:
    app.add_typer(params_app, name="params")
    app.add_typer(metrics_app, name="metrics")
