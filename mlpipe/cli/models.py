"""`mlpipe models list|show|card|promote|rollback`: the pipeline's model registry."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlpipe.cli import options as opt
from mlpipe.state.workspace import DEFAULT_FILE, Workspace

if TYPE_CHECKING:
    from mlpipe.models.registry import ModelVersion, Registry

models_app = typer.Typer(
    help="Registered models: versions, cards, aliases, promotion, rollback.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="Model name.", show_default=False)]
Alias = Annotated[str, typer.Argument(help="Alias, e.g. champion.", show_default=False)]
Ref = Annotated[str, typer.Argument(
    help="NAME (latest version), NAME@ALIAS or NAME:VERSION.", show_default=False)]
Version = Annotated[int, typer.Argument(help="Version number.", min=1, show_default=False)]
ForceGates = Annotated[bool, typer.Option(
    "--force", help="Promote even a version whose evaluation gates failed.")]


def _registry(file: Path) -> Registry:
    from mlpipe.models.registry import Registry

    return Registry(Workspace.for_file(file).state_dir)


def _metrics_text(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sorted(metrics.items())) or "-"


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    """Nested mappings as (dotted.key, text) rows, for a two-column table."""
    if isinstance(value, dict) and value:
        return [row for key, item in sorted(value.items())
                for row in _flatten(f"{prefix}.{key}", item)]
    if isinstance(value, dict | list):
        return [(prefix, json.dumps(value) if value else "-")]
    return [(prefix, "-" if value is None else str(value))]


def summaries(registry: Registry) -> list[dict[str, Any]]:
    """One summary per model: name, versions, latest version, aliases, latest metrics.

    Args:
        registry: The registry to summarise.

    Returns:
        A list of {"name", "versions", "latest", "aliases", "metrics"}, sorted by name.
    """
    by_name: dict[str, list[ModelVersion]] = {}
    for version in registry.list():
        by_name.setdefault(version.name, []).append(version)
    return [{"name": name, "versions": [v.version for v in versions],
             "latest": versions[-1].version, "aliases": registry.aliases(name),
             "metrics": versions[-1].metrics} for name, versions in by_name.items()]


def details(registry: Registry, ref: str) -> dict[str, Any]:
    """Everything about the version `ref` names, plus the aliases that point at it.

    Args:
        registry: The registry.
        ref: NAME, NAME@ALIAS or NAME:VERSION.

    Returns:
        The version's fields as a dict, with "aliases" (names) added.
    """
    version = registry.get(ref)
    held = sorted(a for a, v in registry.aliases(version.name).items() if v == version.version)
    return {**asdict(version), "aliases": held}


@models_app.command("list")
def list_models(file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """Every registered model: versions, aliases and the latest version's metrics."""
    rows = summaries(_registry(file))
    if as_json:
        typer.echo(json.dumps({"models": rows}, indent=2, sort_keys=True))
        return
    if not rows:
        typer.echo("no models registered")
        return
    from rich.table import Table

    from mlpipe.cli.render import stdout_console

    table = Table(box=None, header_style="bold")
    for column in ("Name", "Versions", "Latest", "Aliases", "Latest metrics"):
        table.add_column(column)
    for row in rows:
        aliases = ", ".join(f"{a}={v}" for a, v in sorted(row["aliases"].items())) or "-"
        table.add_row(row["name"], str(len(row["versions"])), str(row["latest"]), aliases,
                      _metrics_text(row["metrics"]))
    stdout_console().print(table)


@models_app.command("show")
def show(ref: Ref, file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """One version: digest, gates, metrics, lineage and aliases."""
    info = details(_registry(file), ref)
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    from rich.table import Table

    from mlpipe.cli.render import stdout_console

    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [("model", f"{info['name']}:{info['version']}"), ("digest", info["digest"]),
            ("created", info["created_at"]), ("gates passed", str(info["gates_passed"]).lower()),
            ("aliases", ", ".join(info["aliases"]) or "-"),
            ("metrics", _metrics_text(info["metrics"]))]
    rows += _flatten("lineage", info["lineage"])
    for label, value in rows:
        table.add_row(label, value)
    stdout_console().print(table)


@models_app.command("card")
def card(ref: Ref, file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """The model card of a version (Markdown; --json for tools)."""
    from mlpipe.models import card as cardlib
    from mlpipe.models.cardstore import CardStore

    registry = _registry(file)
    stored = CardStore(registry.state_dir).require(registry.get(ref))
    if as_json:
        typer.echo(json.dumps(stored, indent=2, sort_keys=True))
        return
    typer.echo(cardlib.to_markdown(stored), nl=False)


@models_app.command("promote")
def promote(name: Name, version: Version, alias: Alias, force: ForceGates = False,
            file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Point NAME@ALIAS at VERSION (refused for a version whose gates failed, unless --force)."""
    previous = _registry(file).promote(name, version, alias, force=force)
    was = f" (was {previous})" if previous is not None else ""
    typer.echo(f"{name}@{alias} -> {version}{was}")


@models_app.command("rollback")
def rollback(name: Name, alias: Alias, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Move NAME@ALIAS back to the version that held it before."""
    registry = _registry(file)
    current = registry.get(f"{name}@{alias}")
    restored = registry.rollback(name, alias)
    typer.echo(f"{name}@{alias} -> {restored.version} (was {current.version})")


@models_app.command("register")
def register_model(
        name: Name,
        model: Annotated[Path, typer.Argument(help="A joblib or pickle model file (anything "
                                                   "with predict).", show_default=False)],
        data: Annotated[Path | None, typer.Option(
            "--data", help="A sample of the model's input (CSV, Parquet, JSON lines), to infer "
                           "its signature.", show_default=False)] = None,
        target: Annotated[str | None, typer.Option(
            "--target", help="The column of --data the model predicts.",
            show_default=False)] = None,
        meta: Annotated[Path | None, typer.Option(
            "--meta", help="A model-meta JSON file instead of --data.", show_default=False)] = None,
        alias: Annotated[str | None, typer.Option(
            "--alias", help="Point this alias at the version.", show_default=False)] = None,
        file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Register a model file that a script wrote as the next version of NAME."""
    from mlpipe.api import models

    version = models.register_file(file, name, model, data, target, meta, alias)
    tag = f" as {alias}" if alias else ""
    typer.echo(f"registered {version.ref}{tag} ({version.meta.get('estimator')})")


def register(app: typer.Typer) -> None:
    """Add the `models` command group to the app.

    Args:
        app: The root typer app.
    """
    app.add_typer(models_app, name="models")
