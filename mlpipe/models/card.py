"""Model cards: what a registered version is for, what it learned from, and how it did.

Pure functions. `build` turns a registered version and the facts the `register` stage gathered
(the pipeline's description, the evaluation and validation reports, the lock entries of the
stages upstream of the model) into a card: a JSON-ready dict. `sections` lays a card out as
titled tables, which `to_markdown` (and the HTML report) render. A card is built once, when
its version is first registered, and stored with it (see `mlpipe.models.cardstore`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpipe.models.registry import ModelVersion
    from mlpipe.state.lockfile import LockEntry

FORMAT = 1
NO_INTENDED_USE = ("Not stated. Add a top-level `description:` to the pipeline file; "
                   "versions registered after that carry it.")


@dataclass(frozen=True)
class CardFacts:
    """What the `register` stage knows about a version beyond the registry row.

    Attributes:
        intended_use: The pipeline file's top-level `description` (None when absent).
        report: The evaluation report (metrics, slices, gates), when one was given.
        validation: The validation report (passed, checks), when one was given.
        validation_path: Where the validation report was read from.
        stages: Lock facts of the stages upstream of the model (see `upstream_stages`).
        mlpipe_version: The mlpipe version that registered the model.
    """

    intended_use: str | None = None
    report: Mapping[str, Any] | None = None
    validation: Mapping[str, Any] | None = None
    validation_path: str | None = None
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mlpipe_version: str = ""


@dataclass(frozen=True)
class CardSection:
    """One titled part of a card: a paragraph, a table, or both.

    Attributes:
        title: The section's heading.
        text: A paragraph ("" for none).
        headers: Column names of the table (empty for no table).
        rows: The table's rows, as text.
    """

    title: str
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def upstream_stages(lock: Mapping[str, LockEntry], paths: Iterable[str],
                    commit_of: Callable[[str], str | None] = lambda _: None) -> dict[str, Any]:
    """The stages that produced `paths`, and the stages before them, from the lock file.

    Args:
        lock: Stage name -> lock entry (the pipeline's lock file).
        paths: The files the model was registered from, relative to the root.
        commit_of: Stage key -> the commit it was run at (the run-cache records it; the lock
            file does not).

    Returns:
        Stage name -> {"key", "commit", "params", "deps"}, sorted by name.
    """
    writer: dict[str, str] = {out: stage for stage, entry in lock.items() for out in entry.outs}

    def producer(path: str) -> str | None:
        for out, stage in writer.items():
            if path == out or path.startswith(out.rstrip("/") + "/"):
                return stage
        return None

    found: dict[str, Any] = {}
    todo = [p for p in paths if p]
    while todo:
        stage = producer(todo.pop())
        if stage is None or stage in found:
            continue
        entry = lock[stage]
        found[stage] = {"key": entry.key, "commit": commit_of(entry.key),
                        "params": dict(entry.params), "deps": dict(entry.deps)}
        todo.extend(entry.deps)
    return dict(sorted(found.items()))


def _training_data(meta: Mapping[str, Any], stages: Mapping[str, Mapping[str, Any]]
                   ) -> dict[str, Any]:
    digest = meta.get("training_data_hash")
    path = next((dep for facts in stages.values() for dep, h in facts["deps"].items()
                 if digest is not None and h == digest), None)
    return {"path": path, "hash": digest, "rows": meta.get("rows"), "target": meta.get("target"),
            "task": meta.get("task"), "classes": meta.get("classes")}


def _validation(report: Mapping[str, Any] | None, path: str | None) -> dict[str, Any] | None:
    if report is None:
        return None
    checks = [c for c in report.get("checks") or [] if isinstance(c, Mapping)]
    failed = [{"check": c.get("check"), "column": c.get("column"), "message": c.get("message")}
              for c in checks if not c.get("passed")]
    return {"path": path, "passed": bool(report.get("passed")), "checks": len(checks),
            "failed": failed}


def build(version: ModelVersion, facts: CardFacts) -> dict[str, Any]:
    """The card of a registered version.

    Args:
        version: The version as the registry holds it (meta, metrics, lineage, gates).
        facts: What the registering stage gathered besides (see CardFacts).

    Returns:
        The card, JSON-ready: model, intended_use, training_data, features, estimator,
        hyperparams, params, training, metrics, slices, gates, validation, lineage,
        library_versions.
    """
    meta, report = version.meta, facts.report or {}
    params = {key: value for s in facts.stages.values() for key, value in s["params"].items()}
    lineage = version.lineage
    return {
        "format": FORMAT,
        "model": {"name": version.name, "version": version.version, "digest": version.digest,
                  "created_at": version.created_at, "gates_passed": version.gates_passed},
        "intended_use": facts.intended_use,
        "training_data": _training_data(meta, facts.stages),
        "features": [dict(f) for f in meta.get("features") or [] if isinstance(f, Mapping)],
        "estimator": meta.get("estimator"),
        "hyperparams": dict(meta.get("params") or {}),
        "params": dict(sorted(params.items())),
        "training": {"seed": meta.get("seed"), "cv": meta.get("cv"),
                     "search": meta.get("search")},
        "metrics": dict(version.metrics),
        "slices": dict(report.get("slices") or {}),
        "gates": [{k: g.get(k) for k in ("gate", "value", "threshold", "baseline", "passed")}
                  for g in report.get("gates") or [] if isinstance(g, Mapping)],
        "validation": _validation(facts.validation, facts.validation_path),
        "lineage": {"git_commit": lineage.get("git_commit"),
                    "git_dirty": lineage.get("git_dirty"), "stage": lineage.get("stage"),
                    "inputs": lineage.get("inputs") or {},
                    "stages": {name: {k: s[k] for k in ("key", "commit")}
                               for name, s in facts.stages.items()}},
        "library_versions": {**(meta.get("library_versions") or {}),
                             **({"mlpipe": facts.mlpipe_version} if facts.mlpipe_version
                                else {})},
    }


# What a card holds about when and from which checkout it was made: kept in the registry's
# record (`models show`, `models card`), left out of the card a stage writes as its output,
# so that rebuilding a commit writes the same bytes.
MOMENT_FIELDS = {"model": ("created_at",), "lineage": ("git_commit", "git_dirty")}


def portable(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card without its moment (see MOMENT_FIELDS) and upstream commits."""
    out = {key: dict(value) if key in MOMENT_FIELDS else value for key, value in card.items()}
    for section, fields in MOMENT_FIELDS.items():
        for name in fields:
            out[section].pop(name, None)
    out["lineage"]["stages"] = {name: {"key": s.get("key")}
                                for name, s in card["lineage"].get("stages", {}).items()}
    return out


def text(value: Any) -> str:
    """A card value as short text: floats to 6 significant digits, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _pairs(title: str, values: Mapping[str, Any], headers: tuple[str, str]) -> CardSection:
    rows = tuple((str(k), text(v)) for k, v in values.items())
    return CardSection(title, "" if rows else "None recorded.", headers if rows else (), rows)


def _slices(slices: Mapping[str, Any]) -> list[CardSection]:
    found = []
    for column, by_value in slices.items():
        names = sorted({m for scores in by_value.values() for m in scores})
        rows = tuple((str(value), *(text(scores.get(m)) for m in names))
                     for value, scores in by_value.items())
        found.append(CardSection(f"Metrics per slice: {column}", "", (column, *names), rows))
    return found


def _validation_section(validation: Mapping[str, Any] | None) -> CardSection:
    if validation is None:
        return CardSection("Validation", "No validation report was given to the register stage "
                                         "(`validation: <stage>.report`).")
    failed = validation["failed"]
    total = validation["checks"]
    summary = (f"{'Passed' if validation['passed'] else 'Failed'}: {total - len(failed)} of "
               f"{total} checks passed ({validation.get('path') or 'report'}).")
    rows = tuple((text(f["check"]), text(f["column"]), text(f["message"])) for f in failed)
    return CardSection("Validation", summary, ("check", "column", "message") if rows else (),
                       rows)


def sections(card: Mapping[str, Any]) -> tuple[CardSection, ...]:
    """A card laid out as titled sections, in reading order.

    Args:
        card: A card from `build` (as stored).

    Returns:
        The sections: model, intended use, training data, features, parameters, metrics,
        slices, gates, validation, lineage and library versions.
    """
    model, data, lineage = card["model"], card["training_data"], card["lineage"]
    params = {"estimator": card.get("estimator"),
              **{f"hyperparams.{k}": v for k, v in card["hyperparams"].items()},
              **{f"params.{k}": v for k, v in card["params"].items()},
              **{f"training.{k}": v for k, v in card["training"].items() if v is not None}}
    gates = tuple((text(g["gate"]), text(g["value"]), text(g["threshold"]),
                   "pass" if g["passed"] else "FAIL") for g in card["gates"])
    inputs = {f"input {field}": f"{i.get('path')} ({i.get('hash')})"
              for field, i in lineage["inputs"].items()}
    with_commit = all("commit" in s for s in lineage["stages"].values())
    stages = tuple((name, text(s["key"]), *((text(s["commit"]),) if with_commit else ()))
                   for name, s in lineage["stages"].items())
    return (
        _pairs("Model", {"model": f"{model['name']}:{model['version']}",
                         "digest": model["digest"],
                         **({"registered": model["created_at"]} if "created_at" in model
                            else {}),
                         "gates passed": model["gates_passed"]}, ("field", "value")),
        CardSection("Intended use", card.get("intended_use") or NO_INTENDED_USE),
        _pairs("Training data", data, ("field", "value")),
        CardSection("Features", "" if card["features"] else "None recorded.",
                    ("name", "dtype") if card["features"] else (),
                    tuple((text(f.get("name")), text(f.get("dtype"))) for f in card["features"])),
        _pairs("Parameters", params, ("name", "value")),
        _pairs("Metrics", card["metrics"], ("metric", "value")),
        *_slices(card["slices"]),
        CardSection("Gates", "" if gates else "No gates recorded.",
                    ("gate", "value", "threshold", "result") if gates else (), gates),
        _validation_section(card.get("validation")),
        _pairs("Lineage", {**({"git commit": lineage["git_commit"],
                              "dirty": lineage["git_dirty"]} if "git_commit" in lineage else {}),
                           "registered by stage": lineage["stage"], **inputs},
               ("field", "value")),
        CardSection("Upstream stages", "" if stages else "None recorded in the lock file.",
                    (("stage", "key", "commit") if with_commit else ("stage", "key"))
                    if stages else (), stages),
        _pairs("Library versions", card["library_versions"], ("library", "version")),
    )


def _cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def to_markdown(card: Mapping[str, Any]) -> str:
    """The card as a Markdown document.

    Args:
        card: A card from `build` (as stored).

    Returns:
        Markdown text ending in a newline.
    """
    model = card["model"]
    lines = [f"# Model card: {model['name']}:{model['version']}", ""]
    for section in sections(card):
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text.replace("\n", " "), ""]
        if section.headers:
            lines.append("| " + " | ".join(_cell(h) for h in section.headers) + " |")
            lines.append("|" + "---|" * len(section.headers))
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
            lines.append("")
    return "\n".join(lines)
