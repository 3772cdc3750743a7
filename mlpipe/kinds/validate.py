"""The `validate` kind: check a table against expectations, and against a reference for drift
and skew.

Output: `report` (JSON {"passed", "checks": [{check, column, observed, threshold, passed,
message}]}). With `infer: true` also `expectations` (YAML derived from the reference, or from
the data: edit it, commit it, and point `expectations_file:` at it). With `on_fail: stop`
(default) a failed check fails the stage, so nothing after it runs; `warn` records and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mlpipe.errors import StageFailed
from mlpipe.kinds.plugin import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.ml.dataio import DataError, read_table, write_json
from mlpipe.ml.drift import drift_checks, skew_checks, validate_drift, validate_skew
from mlpipe.ml.expectations import (
    column_checks,
    infer_expectations,
    merge_expectations,
    rows_check,
    validate_expectations,
    validate_rows,
)
from mlpipe.ml.tables import library_versions

if TYPE_CHECKING:
    import pandas as pd

FILE_KEYS = ("rows", "expectations")


class ValidateKind(StageKind):
    """Check `data` against `expectations`, and against `reference` for drift and skew."""

    name = "validate"
    version = "2"
    required = ("data",)
    optional: ClassVar[Mapping[str, Any]] = {
        "expectations": {}, "expectations_file": None, "rows": None, "reference": None,
        "drift": None, "skew": None, "infer": False, "on_fail": "stop",
    }
    inputs = ("data", "reference", "expectations_file")

    def check(self, config: Mapping[str, Any]) -> None:
        validators = (("expectations", validate_expectations), ("rows", validate_rows),
                      ("drift", validate_drift), ("skew", validate_skew))
        for field, validator in validators:
            if config.get(field) is not None:
                try:
                    validator(config[field])
                except ValueError as exc:
                    raise ConfigProblem(field, str(exc)) from None
        if config.get("on_fail") not in ("stop", "warn"):
            raise ConfigProblem("on_fail", "'on_fail' must be stop or warn")
        if not isinstance(config.get("infer"), bool):
            raise ConfigProblem("infer", "'infer' must be true or false")
        for field in ("drift", "skew"):
            if config.get(field) and not config.get("reference"):
                raise ConfigProblem(field, f"'{field}' needs a 'reference' dataset to compare "
                                           "with (e.g. reference: ingest.test)")

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        named = {"report": output_path(stage, "report.json")}
        if config.get("infer"):
            named["expectations"] = output_path(stage, "expectations.yaml")
        return named

    def versions(self) -> dict[str, str]:
        return {**super().versions(), **library_versions("pandas", "scipy", "pyyaml")}

    def run(self, ctx: StageContext) -> StageResult:
        config, stage = ctx.stage.config, ctx.stage.name
        data, reference = _tables(ctx)
        rows, expectations = _expectations(ctx, data, reference)
        checks = [rows_check(data, rows)] if rows else []
        for column, expected in expectations.items():
            checks += column_checks(data, column, expected)
        if config.get("drift") and reference is not None:
            checks += drift_checks(data, reference, config["drift"])
        if config.get("skew") and reference is not None:
            checks += skew_checks(data, reference, config["skew"])
        failed = [c for c in checks if not c["passed"]]
        write_json({"passed": not failed, "checks": checks},
                   ctx.root / ctx.stage.outputs["report"])
        if failed and config["on_fail"] == "stop":
            others = len(failed) - 1
            more = f" (and {others} more failed check{'s' * (others > 1)})" if others else ""
            raise StageFailed(stage, f"{failed[0]['message']}{more}")
        if failed:
            return StageResult(f"{len(failed)} of {len(checks)} checks failed (on_fail: warn): "
                               f"{failed[0]['message']}")
        return StageResult(f"{len(checks)} checks passed")


def _tables(ctx: StageContext) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The data and the reference (None when there is none); unreadable files fail the stage."""
    config = ctx.stage.config
    try:
        data = read_table(ctx.root / config["data"])
        reference = (read_table(ctx.root / config["reference"])
                     if config.get("reference") else None)
    except DataError as exc:
        raise StageFailed(ctx.stage.name, str(exc).replace(f"{ctx.root}/", "")) from None
    return data, reference


def _expectations(ctx: StageContext, data: pd.DataFrame, reference: pd.DataFrame | None
                  ) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """Row bounds and column expectations: inferred, then the file's, then the stage's own."""
    config = ctx.stage.config
    inferred: dict[str, dict[str, Any]] = {}
    rows = None
    if config.get("infer"):
        source = reference if reference is not None else data
        inferred = infer_expectations(source)
        rows = {"min": 1}
        origin = config.get("reference") or config["data"]
        write_expectations_file(ctx.root / ctx.stage.outputs["expectations"], rows, inferred,
                                f"{origin} ({len(source)} rows), stage '{ctx.stage.name}'")
    from_file: Mapping[str, Any] = {}
    if config.get("expectations_file"):
        from_file = read_expectations_file(ctx.root, config["expectations_file"],
                                           ctx.stage.name)
        rows = from_file.get("rows", rows)
    rows = config.get("rows") or rows
    merged = merge_expectations(inferred, from_file.get("expectations") or {},
                                config.get("expectations") or {})
    return rows, merged


def write_expectations_file(path: Path, rows: Mapping[str, Any],
                            expectations: Mapping[str, Any], origin: str) -> None:
    """Write inferred expectations as YAML that `expectations_file:` reads back.

    Args:
        path: Where to write (atomically).
        rows: Table-level row bounds.
        expectations: Column -> checks.
        origin: What they were inferred from, for the header comment.
    """
    import yaml

    from mlpipe.state.fsutil import atomic_write_text

    header = (f"# Expectations inferred by mlpipe from {origin}.\n"
              "# Edit them (loosen min/max, drop what may change), commit the file and set\n"
              "# `expectations_file: <path>` on a validate stage, or paste the entries into its\n"
              "# `rows:` and `expectations:` fields.\n")
    def flow(item: Mapping[str, Any]) -> str:
        """One mapping entry in flow style: `key: {a: 1, b: [x, y]}`."""
        return yaml.safe_dump(dict(item), default_flow_style=True, sort_keys=False,
                              allow_unicode=True, width=10**6).strip()[1:-1]

    lines = [flow({"rows": dict(rows)}), "expectations:"]
    lines += [f"  {flow({column: checks})}" for column, checks in expectations.items()]
    body = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, header + body)


def read_expectations_file(root: Path, rel: str, stage: str) -> dict[str, Any]:
    """{"rows": ..., "expectations": ...} from a YAML file; problems fail the stage.

    Args:
        root: The pipeline root.
        rel: The expectations file, relative to the root (named in errors).
        stage: The stage reading it, for the error.

    Returns:
        The file's content, checked like the stage's own fields.
    """
    import yaml

    try:
        content = yaml.safe_load((root / rel).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise StageFailed(stage, f"{rel}: expectations file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StageFailed(stage, f"{rel}: cannot read expectations: {first}") from None
    if not isinstance(content, Mapping) or set(content) - set(FILE_KEYS):
        raise StageFailed(stage, f"{rel}: an expectations file is a mapping with "
                                 f"'rows' and 'expectations'")
    try:
        if content.get("rows") is not None:
            validate_rows(content["rows"])
        validate_expectations(content.get("expectations") or {})
    except ValueError as exc:
        raise StageFailed(stage, f"{rel}: {exc}") from None
    return dict(content)
