"""The `register` kind: record a trained model in the pipeline's model registry.

The stage stores the model file in the registry (`.mlpipe/registry.db` plus the content
store) as the next version of `name`, with its metadata, metrics and lineage, and optionally
points an alias such as `champion` at it. Registering the same model bytes again gives the
same version. A model whose evaluation gates failed (`report` says `gates_passed: false`) is
registered with `gates_passed` false when no alias is asked for; with an alias the stage
fails before touching the registry, so a failed model never becomes e.g. the champion.

Lineage records only facts the stage can check: the git commit and dirty flag of the
pipeline's repository, the pipeline root, the stage name, the path and content hash of each
input file (model, meta, metrics_file, report) and the params the stage reads.

The metrics field is `metrics_file` (e.g. `evaluate.metrics`), not `metrics`: every stage
already has a `metrics` field, which declares outputs that hold metrics. Without it the
metrics come from the report's `metrics`.

With `alias` set the stage runs every time: the alias lives in the registry, outside the
stage's outputs, and may have been moved since (by a later run, `models promote` or
`models rollback`), so a result restored from the cache could not vouch for it. The stage
moves the alias only when it registers a new version (or the alias was never set): a move
made by hand since is kept, and the stage's summary and `entry` output say so.

Each version gets a model card (`mlpipe.models.card`), built when the version is first
registered and stored with it; the stage writes it as `card` (Markdown) and `card_json`. Its
intended use is the pipeline file's top-level `description`. `validation` (e.g. `validate.report`)
adds a validation summary; the lock file gives the keys of the stages upstream of the model.
Registering the same bytes again returns the stored card unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlpipe.errors import MlpipeError, StageFailed
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.ml.dataio import DataError, read_json, write_json
from mlpipe.models import card as cardlib
from mlpipe.models.cardstore import CardStore
from mlpipe.models.registry import ModelVersion, Registry, RegistryError, check_name
from mlpipe.state import lockfile
from mlpipe.state.fsutil import atomic_write_text
from mlpipe.state.hashing import hash_file
from mlpipe.vcs import gitinfo
from mlpipe.version import __version__

INPUT_FIELDS = ("model", "meta", "metrics_file", "report", "validation", "data")


def _read_object(stage: str, root: Path, rel: str, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object; StageFailed otherwise."""
    try:
        data = read_json(root / rel)
    except DataError as exc:
        raise StageFailed(stage, f"{what}: {exc}") from None
    if not isinstance(data, dict):
        raise StageFailed(stage, f"{what} {rel} must hold a JSON object, "
                                 f"not {type(data).__name__}")
    return data


def read_metrics(stage: str, root: Path, config: Mapping[str, Any],
                 report: dict[str, Any] | None) -> dict[str, Any]:
    """The metrics to record: the `metrics_file`, else the report's metrics, else {}.

    Args:
        stage: The stage name (for errors).
        root: The pipeline root.
        config: The stage's config (input fields are root-relative paths).
        report: The evaluation report, when there is one.

    Returns:
        Flat metrics {name: number}.
    """
    if config.get("metrics_file"):
        metrics = _read_object(stage, root, config["metrics_file"], "metrics_file")
    elif report is not None and isinstance(report.get("metrics"), dict):
        metrics = report["metrics"]
    else:
        return {}
    bad = [k for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise StageFailed(stage, f"metrics must be flat numbers; '{bad[0]}' is not")
    return metrics


def gates_passed(stage: str, report: dict[str, Any] | None) -> bool:
    """Whether the evaluation gates passed: the report's `gates_passed`, True without one."""
    if report is None:
        return True
    value = report.get("gates_passed")
    if not isinstance(value, bool):
        raise StageFailed(stage, "report has no boolean 'gates_passed' (is it evaluate.report?)")
    return value


def model_meta(ctx: StageContext) -> dict[str, Any]:
    """`meta` when given, else the meta inferred from the model file (`mlpipe.ml.modelmeta`)."""
    stage, config, root = ctx.stage.name, ctx.stage.config, ctx.root
    if config.get("meta"):
        return _read_object(stage, root, config["meta"], "meta")
    from mlpipe.ml import modelmeta

    try:
        return modelmeta.infer(root / config["model"],
                               root / config["data"] if config.get("data") else None,
                               config.get("target"), config.get("signature"))
    except RegistryError as exc:
        raise StageFailed(stage, str(exc)) from None


def lineage(ctx: StageContext) -> dict[str, Any]:
    """Where the model came from, as far as this stage can tell (see the module docstring).

    Args:
        ctx: The stage's context.

    Returns:
        {"git_commit", "git_dirty", "root", "stage", "inputs": {field: {path, hash}},
        "params"}.
    """
    config = ctx.stage.config
    inputs = {
        field: {"path": config[field], "hash": hash_file(ctx.root / config[field])}
        for field in INPUT_FIELDS if config.get(field)
    }
    return {
        "git_commit": gitinfo.head_commit(ctx.root),
        "git_dirty": gitinfo.is_dirty(ctx.root),
        "root": str(ctx.root),
        "stage": ctx.stage.name,
        "inputs": inputs,
        "params": dict(ctx.stage.params),
    }


def intended_use(pipeline_file: Path | None) -> str | None:
    """The pipeline file's top-level `description`, if any.

    Args:
        pipeline_file: The pipeline file (None outside a run).

    Returns:
        The description as text, or None when there is none or the file cannot be read.
    """
    if pipeline_file is None:
        return None
    from mlpipe.spec.yamlio import load_file

    try:
        raw = load_file(pipeline_file)
    except MlpipeError:
        return None
    value = raw.get("description") if isinstance(raw, dict) else None
    return None if value is None else str(value).strip() or None


def card_facts(ctx: StageContext, report: dict[str, Any] | None) -> cardlib.CardFacts:
    """What the card needs besides the registry row: description, reports, upstream stages.

    Args:
        ctx: The stage's context.
        report: The evaluation report, when there is one.

    Returns:
        The facts for `mlpipe.models.card.build`.
    """
    stage, config, root = ctx.stage.name, ctx.stage.config, ctx.root
    validation = None
    if config.get("validation"):
        validation = _read_object(stage, root, config["validation"], "validation")
        if not isinstance(validation.get("checks"), list) or "passed" not in validation:
            raise StageFailed(stage, f"validation {config['validation']} is not a validation "
                                     "report (no 'passed' and 'checks'; is it validate.report?)")
    lock = lockfile.read(ctx.lock_file) if ctx.lock_file is not None else {}
    paths = [config[f] for f in INPUT_FIELDS if config.get(f)]
    return cardlib.CardFacts(
        intended_use=intended_use(ctx.pipeline_file), report=report, validation=validation,
        validation_path=config.get("validation"),
        stages=cardlib.upstream_stages(lock, paths, _commit_of(root)),
        mlpipe_version=__version__)


def _commit_of(root: Path) -> Callable[[str], str | None]:
    """Stage key -> the commit its run-cache entry records (None when there is none)."""
    from mlpipe.state.runcache import RunCache
    from mlpipe.state.workspace import STATE_DIR

    runs = RunCache(root / STATE_DIR / "cache" / "runs")

    def commit_of(key: str) -> str | None:
        entry = runs.get(key)
        return entry.commit if entry is not None else None

    return commit_of


def write_card(ctx: StageContext, version: ModelVersion, facts: cardlib.CardFacts) -> None:
    """Store the version's card (unless it has one) and write the stored one, without its
    moment (`cardlib.portable`), as outputs."""
    stored = CardStore(ctx.state).put(version, cardlib.build(version, facts))
    card = cardlib.portable(stored)
    write_json(card, ctx.root / ctx.stage.outputs["card_json"])
    atomic_write_text(ctx.root / ctx.stage.outputs["card"], cardlib.to_markdown(card))


class RegisterKind(StageKind):
    """Registers `model` (with `meta`, `metrics_file`, `report`) as a version of `name`."""

    name = "register"
    version = "3"
    required = ("name", "model")
    optional = {"meta": None, "data": None, "target": None, "signature": None,
                "metrics_file": None, "report": None, "validation": None, "alias": None}
    inputs = INPUT_FIELDS

    def check(self, config: Mapping[str, Any]) -> None:
        given = [f for f in ("meta", "data", "signature") if config.get(f) is not None]
        if not given:
            raise ConfigProblem("meta", "give meta (a train stage's model_meta), or data: (a "
                                "sample of the model's input) or signature: to infer it")
        if "meta" in given and len(given) > 1:
            raise ConfigProblem(given[1], "meta is the model's signature already; leave out "
                                          f"{given[1]}")
        if config.get("signature") is not None and not isinstance(config["signature"], dict):
            raise ConfigProblem("signature", "must be a mapping {features, target, task}")
        for field, kind in (("name", "model"), ("alias", "alias")):
            value = config.get(field)
            if value is None and field == "alias":
                continue
            if not isinstance(value, str):
                raise ConfigProblem(field, f"must be a name (text), not {value!r}")
            try:
                check_name(kind, value)
            except RegistryError as exc:
                raise ConfigProblem(field, str(exc)) from None

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"entry": output_path(stage, "entry.json"),
                "card": output_path(stage, "card.md"),
                "card_json": output_path(stage, "card.json")}

    def needs_project(self, config: Mapping[str, Any]) -> bool:
        """The version goes into the project's registry."""
        return True

    def always_run(self, config: Mapping[str, Any]) -> bool:
        """An alias lives in the registry and may have moved; re-assert it on every run."""
        return config.get("alias") is not None

    def run(self, ctx: StageContext) -> StageResult:
        stage, config, root = ctx.stage.name, ctx.stage.config, ctx.root
        model_file = root / config["model"]
        if not model_file.is_file():
            raise StageFailed(stage, f"model file {config['model']} does not exist")
        meta = model_meta(ctx)
        report = _read_object(stage, root, config["report"], "report") if config.get(
            "report") else None
        passed = gates_passed(stage, report)
        alias = config.get("alias")
        if alias and not passed:
            raise StageFailed(stage, f"gates failed in {config['report']}; refusing to set "
                                     f"alias '{alias}' on model '{config['name']}'")
        metrics = read_metrics(stage, root, config, report)
        facts = card_facts(ctx, report)
        registry = Registry(ctx.state)
        try:
            held = {v.version for v in registry.list() if v.name == config["name"]}
            entry = registry.register(config["name"], model_file, meta, metrics, lineage(ctx),
                                      gates_passed=passed)
            write_card(ctx, entry, facts)
            note = _place_alias(registry, entry, alias, new=entry.version not in held)
            aliases = registry.aliases(entry.name)
        except RegistryError as exc:
            raise StageFailed(stage, str(exc)) from None
        write_json({"name": entry.name, "version": entry.version, "digest": entry.digest,
                    "aliases": sorted(a for a, v in aliases.items() if v == entry.version),
                    **({"alias_kept": note} if note else {})},
                   root / ctx.stage.outputs["entry"])
        tag = f" as {alias}" if alias and not note else ""
        return StageResult(summary=f"registered {entry.ref}{tag}", warning=note or "")


def _place_alias(registry: Registry, entry: ModelVersion, alias: str | None, new: bool
                 ) -> str | None:
    """Point the alias at a newly registered version; never undo a move made since.

    The alias moves when this run registered a new version, or when the alias was never
    set. Otherwise it stays where it is (a `models promote` or `rollback` made by hand
    holds), and the returned note says so; None when the alias is on `entry` or not asked.
    """
    if not alias:
        return None
    current = registry.aliases(entry.name).get(alias)
    if new or current is None:
        registry.set_alias(entry.name, alias, entry.version)
        return None
    if current == entry.version:
        return None
    return (f"{entry.name}@{alias} stays on version {current} (moved since this model was "
            f"registered); `mlpipe models promote {entry.name} {entry.version} {alias}` "
            "moves it")
