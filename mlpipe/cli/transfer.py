"""`mlpipe push` and `mlpipe pull`: share the cache through a remote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.cli.cache import plural, size_text
from mlpipe.state.workspace import DEFAULT_FILE

if TYPE_CHECKING:
    from mlpipe.api import TransferOptions
    from mlpipe.remote.sync import TransferResult

Remote = Annotated[str | None, typer.Option(
    "--remote", "-r", help="A remote's name or URL (default: the configured default, else the "
                           "pipeline file's remote:).", show_default=False)]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Transfers at once.")]


def summary(result: TransferResult) -> str:
    """One line: what moved, how much, how fast, and what was already there."""
    verb, side = ("pushed", "to") if result.direction == "push" else ("pulled", "from")
    rate = (f", {size_text(int(result.bytes / result.seconds))}/s"
            if result.bytes and result.seconds > 0 else "")
    failed = f"; {len(result.failures)} failed" if result.failures else ""
    return (f"{verb} {plural(result.objects, 'object')} ({size_text(result.bytes)}) and "
            f"{plural(result.entries, 'run-cache entry', 'run-cache entries')} {side} "
            f"{result.url} in {result.seconds:.2f}s{rate}; {result.present} already there"
            f"{failed}")


def result_json(result: TransferResult) -> dict[str, object]:
    return {"direction": result.direction, "remote": result.url, "objects": result.objects,
            "present": result.present, "bytes": result.bytes, "entries": result.entries,
            "seconds": result.seconds, "ok": result.ok,
            "failures": [{"name": f.name, "where": f.where, "reason": f.reason}
                         for f in result.failures]}


def report(result: TransferResult, as_json: bool) -> None:
    """Print the summary (and each failure on stderr); raise the error when one failed.

    Raises:
        RemoteError: Something did not move.
    """
    if as_json:
        typer.echo(json.dumps(result_json(result), indent=2))
    else:
        typer.echo(summary(result))
    for failure in result.failures:
        typer.echo(f"failed: {failure}", err=True)
    if not result.ok:
        from mlpipe.remote.link import failure_error

        raise failure_error(result)


def _options(targets: list[str] | None, remote: str | None, jobs: int) -> TransferOptions:
    from mlpipe import api

    return api.TransferOptions(api.Selection(tuple(targets or ())), remote, jobs)


def push(targets: opt.Targets = None, remote: Remote = None, jobs: Jobs = 8,
         file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """Upload to the remote the outputs and run-cache entries that the lock file records
    for the stages (all by default), skipping what it already holds.

    Exit codes: 0 done, 1 something could not be sent (named), 2 no or bad remote.
    """
    from mlpipe import api

    report(api.push(file, _options(targets, remote, jobs)), as_json)


def pull(targets: opt.Targets = None, remote: Remote = None, jobs: Jobs = 8,
         file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False,
         rev: Annotated[str | None, typer.Option(
             "--rev", help="Pull what this git revision's lock file records (a pull "
             "request's base, say) instead of the work tree's.", show_default=False)] = None,
         ) -> None:
    """Download into the local cache what the lock file records for the stages (all by
    default); `mlpipe run` then restores them instead of running.

    Exit codes: 0 done, 1 something could not be received (named), 2 no or bad remote.
    """
    if rev is not None:
        from mlpipe.api.fetch import pull_at

        report(pull_at(file, rev, remote, tuple(targets or ()), jobs), as_json)
        return
    from mlpipe import api

    report(api.pull(file, _options(targets, remote, jobs)), as_json)
    from mlpipe.api import data

    for path in data.restore_missing(file).restored:
        typer.echo(f"restored {path}", err=as_json)


def register(app: typer.Typer) -> None:
    """Add `push` and `pull` to the app.

    Args:
        app: The root typer app.
    """
    app.command("push")(push)
    app.command("pull")(pull)
