"""`mlpipe cache verify|gc`: check the content store, and remove what nothing needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import EXIT_STAGE_FAILED
from mlpipe.state.workspace import DEFAULT_FILE

if TYPE_CHECKING:
    from mlpipe.api.cache import GcResult, VerifyResult

ENTRY, ENTRIES = "run-cache entry", "run-cache entries"

cache_app = typer.Typer(help="The cache: verify stored objects, collect garbage.",
                        no_args_is_help=True)

Remove = Annotated[bool, typer.Option(
    "--remove", help="Delete the bad objects and entries, so the stages that made them run "
                     "again.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would go; remove nothing.")]
AllCommits = Annotated[bool, typer.Option(
    "--all-commits", help="Also keep what the lock file at every commit (every branch and "
                          "tag) refers to.")]

OnRemote = Annotated[bool, typer.Option(
    "--remote", help="Also remove the temporary files that interrupted pushes left on the "
                     "default remote over an hour ago.")]


def size_text(size: int) -> str:
    """A byte count for people: 512 B, 2.0 KiB, 3.4 MiB..."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, power = float(size), 0
    while value >= 1024 and power < len(units) - 1:
        value, power = value / 1024, power + 1
    return f"{size} B" if power == 0 else f"{value:.1f} {units[power]}"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 object`, `2 objects`."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def shown(path: Path) -> str:
    """A path relative to the current directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def verify_json(result: VerifyResult) -> str:
    return json.dumps({"ok": result.ok, "objects": result.objects, "run_entries": result.entries,
                       "bad": [{"path": str(p.path), "problem": p.detail}
                               for p in result.problems],
                       "removed": result.removed}, indent=2)


def gc_json(result: GcResult) -> str:
    plan = result.plan
    return json.dumps({
        "dry_run": result.dry_run, "removed_objects": len(plan.objects),
        "removed_run_entries": len(plan.entries), "removed_temporary_files": len(plan.temps),
        "freed_bytes": plan.freed_bytes, "kept_objects": plan.kept_objects,
        "kept_bytes": plan.kept_bytes, "kept_for": list(result.references.sources),
        "warnings": list(result.references.warnings),
        "removed": sorted(str(f.path) for f in plan.files)}, indent=2)


@cache_app.command("verify")
def verify(file: opt.PipelineFile = Path(DEFAULT_FILE), remove: Remove = False,
           as_json: opt.Json = False) -> None:
    """Rehash every stored object and parse every run-cache entry; list the bad ones.

    Exit codes: 0 all good, 1 something was bad (with --remove, it is gone now).
    """
    from mlpipe.api import cache

    result = cache.verify(file, remove=remove)
    if as_json:
        typer.echo(verify_json(result))
    else:
        for problem in result.problems:
            typer.echo(f"bad: {shown(problem.path)}: {problem.detail}")
        checked = (f"checked {plural(result.objects, 'object')} and "
                   f"{plural(result.entries, ENTRY, ENTRIES)}")
        if result.ok:
            typer.echo(f"{checked}: all good")
        elif result.removed:
            typer.echo(f"{checked}: {len(result.problems)} bad, removed; the stages that "
                       "produced them will run again")
        else:
            typer.echo(f"{checked}: {len(result.problems)} bad; `mlpipe cache verify "
                       "--remove` deletes them so they are rebuilt")
    if not result.ok:
        raise typer.Exit(EXIT_STAGE_FAILED)


@cache_app.command("gc")
def gc(file: opt.PipelineFile = Path(DEFAULT_FILE), dry_run: DryRun = False,
       all_commits: AllCommits = False, remote: OnRemote = False,
       as_json: opt.Json = False) -> None:
    """Remove the objects and run-cache entries that no lock file and no registered model
    needs (the lock files beside the pipeline file; with --all-commits, at every commit)."""
    from mlpipe.api import cache

    result = cache.gc(file, dry_run=dry_run, all_commits=all_commits)
    if remote and not dry_run:
        url, cleaned = cache.clean_remote(file)
        typer.echo(f"removed {plural(cleaned, 'stale temporary file')} on {url}", err=as_json)
    if as_json:
        typer.echo(gc_json(result))
        return
    for warning in result.references.warnings:
        typer.echo(f"warning: {warning}", err=True)
    plan = result.plan
    removed = [plural(len(plan.objects), "object"),
               plural(len(plan.entries), ENTRY, ENTRIES)]
    if plan.temps:
        removed.append(plural(len(plan.temps), "stale temporary file"))
    typer.echo(f"{'would remove' if dry_run else 'removed'} {', '.join(removed)} "
               f"({size_text(plan.freed_bytes)})")
    typer.echo(f"kept {plural(plan.kept_objects, 'object')} ({size_text(plan.kept_bytes)}) "
               f"needed by {', '.join(result.references.sources)}")


def register(app: typer.Typer) -> None:
    """Add the `cache` command group to the app.

    Args:
        app: The root typer app.
    """
    app.add_typer(cache_app, name="cache")
