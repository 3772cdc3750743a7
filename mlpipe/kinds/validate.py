"""The `validate` kind: check a table against declared expectations and a reference's drift.

Output: `report` (JSON: every check with observed value, threshold, pass/fail). With
`on_fail: stop` (default) a failed check fails the stage so nothing after it runs; `warn`
records the failures and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mlpipe.errors import StageFailed
from mlpipe.kinds import register
from mlpipe.kinds.base import ConfigProblem, StageContext, StageKind, StageResult, output_path
from mlpipe.kinds.dataio import DataError, read_table, write_json
from mlpipe.kinds.expectations import COLUMN_CHECKS, column_checks, drift_checks, rows_check
from mlpipe.kinds.tabular import library_versions


@register
class ValidateKind(StageKind):
    """Check `data` against `expectations`, and against `reference` for drift."""

    name = "validate"
    version = "1"
    required = ("data",)
    optional: ClassVar[Mapping[str, Any]] = {
        "expectations": {}, "rows": None, "reference": None, "drift": None, "on_fail": "stop",
    }
    inputs = ("data", "reference")

    def check(self, config: Mapping[str, Any]) -> None:
        expectations = config.get("expectations") or {}
        if not isinstance(expectations, Mapping):
            raise ConfigProblem("expectations", "'expectations' maps column -> checks")
        for column, checks in expectations.items():
            unknown = set(checks or {}) - set(COLUMN_CHECKS) if isinstance(checks, Mapping) \
                else {"(not a mapping)"}
            if unknown:
                raise ConfigProblem("expectations", f"column '{column}': unknown check "
                                    f"'{sorted(unknown)[0]}' ({', '.join(COLUMN_CHECKS)})")
        if config.get("on_fail") not in ("stop", "warn"):
            raise ConfigProblem("on_fail", "'on_fail' must be stop or warn")
        if config.get("drift") and not config.get("reference"):
            raise ConfigProblem("drift", "'drift' needs a 'reference' dataset")

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        return {"report": output_path(stage, "report.json")}

    def versions(self) -> dict[str, str]:
        return {**super().versions(), **library_versions("pandas", "scipy")}

    def run(self, ctx: StageContext) -> StageResult:
        config, stage = ctx.stage.config, ctx.stage.name
        try:
            data = read_table(ctx.root / config["data"])
            reference = (read_table(ctx.root / config["reference"])
                         if config.get("reference") else None)
        except DataError as exc:
            raise StageFailed(stage, str(exc)) from None
        checks = []
        if config.get("rows"):
            checks.append(rows_check(data, config["rows"]))
        for column, expected in (config.get("expectations") or {}).items():
            checks += column_checks(data, str(column), expected or {})
        if config.get("drift") and reference is not None:
            checks += drift_checks(data, reference, config["drift"])
        failed = [c for c in checks if not c["passed"]]
        write_json({"passed": not failed, "checks": checks}, ctx.root / ctx.stage.outputs["report"])
        if failed and config["on_fail"] == "stop":
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise StageFailed(stage, f"{failed[0]['message']}{more}")
        return StageResult(f"{len(checks) - len(failed)}/{len(checks)} checks passed")
