"""`mlpipe models ...`: the model registry (versions, cards, aliases, labels, export, import)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import UsageError
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
    from mlpipe.models.labels import require_active

    registry = _registry(file)
    require_active(registry, name, version)
    previous = registry.promote(name, version, alias, force=force)
    was = f" (was {previous})" if previous is not None else ""
    typer.echo(f"{name}@{alias} -> {version}{was}")


@models_app.command("rollback")
def rollback(name: Name, alias: Alias, file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Move NAME@ALIAS back to the version that held it before."""
    registry = _registry(file)
    current = registry.get(f"{name}@{alias}")
    restored = registry.rollback(name, alias)
    typer.echo(f"{name}@{alias} -> {restored.version} (was {current.version})")


@models_app.command("history")
def history(ref: Annotated[str, typer.Argument(
        help="NAME (versions and aliases) or NAME@ALIAS (that alias).", show_default=False)],
            file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """When each version was registered and each alias moved (rollbacks included)."""
    from mlpipe.models.history import history as model_history
    from mlpipe.models.registry import parse_ref

    events = model_history(_registry(file), ref)
    if as_json:
        typer.echo(json.dumps({"events": [asdict(e) for e in events]}, indent=2))
        return
    name = parse_ref(ref)[0]
    for event in events:
        typer.echo(event.describe(name))


def _tag_pairs(texts: list[str] | None) -> dict[str, str | None]:
    """`key=value` (or `key`: any value) pairs from the command line."""
    pairs: dict[str, str | None] = {}
    for text in texts or ():
        key, eq, value = text.partition("=")
        if not key.strip():
            raise UsageError(f"a tag is KEY or KEY=VALUE, not '{text}'")
        pairs[key.strip()] = value.strip() if eq else None
    return pairs


def _conditions(texts: list[str] | None) -> list[tuple[str, Any, float]]:
    """`accuracy >= 0.9` conditions (the gate syntax, with a number) from the command line."""
    from mlpipe.ml import gates

    found = []
    for text in texts or ():
        try:
            gate = gates.parse(text)
        except ValueError as exc:
            raise UsageError(str(exc).replace("gate", "condition")) from None
        if gate.number is None:
            raise UsageError(f"'{text}': a search condition compares a metric with a number")
        found.append((gate.metric, gates.OPS[gate.op], gate.number))
    return found


def _labels_line(ref: str, labels: Any) -> str:
    tags = " ".join(f"{k}={v}" if v else k for k, v in sorted(labels.tags.items())) or "-"
    state = " (archived)" if labels.archived else ""
    return f"{ref}{state}  tags: {tags}  description: {labels.description or '-'}"


@models_app.command("tag")
def tag(ref: Ref, tags: Annotated[list[str], typer.Argument(
        help="KEY=VALUE (or KEY) to set.", show_default=False)],
        remove: Annotated[list[str] | None, typer.Option(
            "--remove", help="A tag to remove (repeatable).", show_default=False)] = None,
        file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Set tags on the version NAME:VERSION or NAME@ALIAS names."""
    from mlpipe.models.labels import LabelStore

    pairs = {k: v or "" for k, v in _tag_pairs(tags).items()}
    typer.echo(_labels_line(ref, LabelStore(_registry(file)).tag(ref, pairs, remove or [])))


@models_app.command("describe")
def describe(ref: Ref, text: Annotated[str, typer.Argument(
        help="The description.", show_default=False)],
        file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Set the description of a version."""
    from mlpipe.models.labels import LabelStore

    typer.echo(_labels_line(ref, LabelStore(_registry(file)).describe(ref, text)))


@models_app.command("archive")
def archive(ref: Ref, restore: Annotated[bool, typer.Option(
        "--restore", help="Take the version out of the archive.")] = False,
        file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Archive a version: hidden from search, cannot be promoted (refused while aliased)."""
    from mlpipe.models.labels import LabelStore

    typer.echo(_labels_line(ref, LabelStore(_registry(file)).archive(ref, not restore)))


@models_app.command("search")
def search(tags: Annotated[list[str] | None, typer.Option(
        "--tag", help="KEY=VALUE or KEY the version must have (repeatable).",
        show_default=False)] = None,
        metrics: Annotated[list[str] | None, typer.Option(
            "--metric", help="A condition such as 'accuracy >= 0.9' (repeatable).",
            show_default=False)] = None,
        include_archived: Annotated[bool, typer.Option(
            "--archived", help="Include archived versions.")] = False,
        file: opt.PipelineFile = Path(DEFAULT_FILE), as_json: opt.Json = False) -> None:
    """Versions whose tags and metrics match every condition given."""
    from mlpipe.models.labels import LabelStore

    found = LabelStore(_registry(file)).search(_tag_pairs(tags), _conditions(metrics),
                                               include_archived)
    if as_json:
        typer.echo(json.dumps({"versions": [
            {"ref": v.ref, "metrics": v.metrics, **asdict(labels)} for v, labels in found]},
            indent=2, sort_keys=True))
        return
    for version, labels in found:
        typer.echo(f"{_labels_line(version.ref, labels)}  metrics: "
                   f"{_metrics_text(version.metrics)}")
    if not found:
        typer.echo("no version matches")


Format = Annotated[str, typer.Option("--format", help="The directory's format: mlflow.")]
ExportDir = Annotated[Path, typer.Argument(help="The directory to write (replaced whole).",
                                           show_default=False, file_okay=False)]
ImportDir = Annotated[Path, typer.Argument(help="An MLflow model directory (with MLmodel).",
                                           show_default=False, file_okay=False)]
ImportName = Annotated[str, typer.Option("--name", help="Register it under this model name.",
                                         show_default=False)]


@models_app.command("export")
def export(ref: Ref, directory: ExportDir, fmt: Format = "mlflow",
           file: opt.PipelineFile = Path(DEFAULT_FILE)) -> None:
    """Write a registered model as an MLflow model directory (MLmodel, python_function and
    sklearn flavors, signature, input example, pinned requirements)."""
    from mlpipe.api.interop import export_model

    exported = export_model(file, ref, fmt, directory)
    typer.echo(f"exported {exported} ({ref}) to {directory} ({fmt})")


@models_app.command("import")
def import_(directory: ImportDir, name: ImportName, file: opt.PipelineFile = Path(DEFAULT_FILE)
            ) -> None:
    """Register the scikit-learn model of an MLflow model directory as the next version of
    NAME (unpickling runs code: import only directories you trust)."""
    from mlpipe.api.interop import import_model

    ref, new = import_model(file, directory, name)
    typer.echo(f"registered {ref} from {directory}" if new
               else f"{ref} already holds the model in {directory}")


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
