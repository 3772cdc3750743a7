"""`mlpipe exp ...`: run variants of the params side by side, compare them, keep the best."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import EXIT_STAGE_FAILED, UsageError
from mlpipe.state.workspace import DEFAULT_FILE

if TYPE_CHECKING:
    from mlpipe.api.exprun import Outcome

exp_app = typer.Typer(help="Experiments: run variants of the params, compare, apply the best.",
                      no_args_is_help=True)
Names = Annotated[list[str] | None, typer.Argument(help="Experiment names.", show_default=False)]
Remote = Annotated[str | None, typer.Option("--remote", "-r", help="A remote's name or URL.")]
Sets = Annotated[list[str] | None, typer.Option(
    "--set", "-S", help="A param and its values: -S model.C=0.1,1,10 (repeatable; every "
    "combination runs).", show_default=False)]


def _say(outcome: Outcome) -> None:
    ran = sum(1 for s in outcome.statuses.values() if s == "ran")
    if outcome.ok:
        typer.echo(f"{outcome.name}: done ({ran} stage(s) ran, "
                   f"{len(outcome.statuses) - ran} from the cache)")
    else:
        typer.echo(f"{outcome.name}: failed: {outcome.error}", err=True)


@exp_app.command("run")
def run(sets: Sets = None,
        jobs: Annotated[int, typer.Option("--jobs", "-j", min=1,
                                          help="Experiments run at once.")] = 1,
        name: Annotated[str | None, typer.Option("--name", "-n", help="Name (grid: NAME-1, "
                                                 "NAME-2, ...).")] = None,
        queue: Annotated[bool, typer.Option("--queue", help="Only queue them.")] = False,
        queued: Annotated[bool, typer.Option("--queued", help="Run the queued ones.")] = False,
        file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Run one variant, or the grid of the values given, each in a temporary git worktree
    that shares the cache; the work tree is not touched. Exit 1 when one failed."""
    from mlpipe.api import experiments

    if queued and (sets or queue or name):
        raise UsageError("--queued runs what is queued; it takes no -S, --name or --queue")
    variants = None if queued else experiments.plan(file, sets or [], name)
    if variants is not None and queue:
        experiments.enqueue(file, variants)
        typer.echo("\n".join(f"queued {v.name}: {' '.join(v.overrides)}" for v in variants))
        return
    outcomes = experiments.run(file, variants, jobs, _say)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(EXIT_STAGE_FAILED)


@exp_app.command("show")
def show(sort_by: Annotated[str | None, typer.Option(
             "--sort-by", help="A column; metrics sort best first.")] = None,
         base: Annotated[str | None, typer.Option(
             "--base", help="Only experiments run on this revision.")] = None,
         as_md: Annotated[bool, typer.Option("--md", help="A Markdown table.")] = False,
         as_csv: Annotated[bool, typer.Option("--csv", help="CSV.")] = False,
         as_json: opt.Json = False, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """The runs table: params and metrics as columns, `*` on each metric's best value."""
    from mlpipe.api import experiments
    from mlpipe.revisions import exptable

    table = experiments.table(file, sort_by, base)
    render = (exptable.as_json if as_json else exptable.markdown if as_md
              else exptable.as_csv if as_csv else exptable.text)
    typer.echo(render(table).rstrip("\n"))


@exp_app.command("diff")
def diff(a: Annotated[str, typer.Argument(help="An experiment.")],
         b: Annotated[str, typer.Argument(help="Another.")],
         everything: Annotated[bool, typer.Option("--all", help="Equal values too.")] = False,
         as_json: opt.Json = False, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Params and metrics that differ between two experiments."""
    from mlpipe.api import experiments
    from mlpipe.revisions.exptable import cell

    found = experiments.diff(file, a, b, everything)
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in found], indent=1))
        return
    for d in found:
        typer.echo(f"{d.what} {d.key}: {cell(d.a)} -> {cell(d.b)}")


@exp_app.command("apply")
def apply(name: Annotated[str, typer.Argument(help="The experiment.")],
          file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Bring an experiment into the work tree: its params (in the files that declare them),
    its lock file and its outputs (from the cache), ready to commit."""
    from mlpipe.api import experiments

    report = experiments.apply(file, name)
    counts: dict[str, int] = {}
    for stage in report.stages:
        counts[stage.status.value] = counts.get(stage.status.value, 0) + 1
    typer.echo(f"applied {name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if not report.ok:
        raise typer.Exit(EXIT_STAGE_FAILED)


@exp_app.command("branch")
def branch(name: Annotated[str, typer.Argument(help="The experiment.")],
           branch_name: Annotated[str, typer.Argument(help="The new branch.")],
           file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Create a git branch: the experiment's base commit plus one commit with its params
    and lock file. The work tree and the current branch are not touched."""
    from mlpipe.api import experiments

    commit = experiments.branch(file, name, branch_name)
    typer.echo(f"branch {branch_name} at {commit[:8]}")


@exp_app.command("remove")
def remove(names: Names = None, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Forget experiments; their outputs stay in the cache until `mlpipe cache gc`."""
    from mlpipe.api import experiments

    if not names:
        raise UsageError("name the experiments to remove")
    for removed in experiments.remove(file, names):
        typer.echo(f"removed {removed}")


@exp_app.command("push")
def push(names: Names = None, remote: Remote = None,
         file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Upload experiments (all when none is named) and their outputs to the remote."""
    from mlpipe.api import experiments

    moved = experiments.push(file, names or [], remote)
    typer.echo(f"pushed {len(moved.experiments)} experiment(s), {moved.objects} object(s)")


@exp_app.command("pull")
def pull(names: Names = None, remote: Remote = None,
         file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Download experiments (all the remote holds when none is named) and their outputs."""
    from mlpipe.api import experiments

    moved = experiments.pull(file, names or [], remote)
    typer.echo(f"pulled {len(moved.experiments)} experiment(s), {moved.objects} object(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(exp_app, name="exp")
