"""Evaluation gates: `"<metric> <op> <number | baseline.<metric> [+|- number]>"`, parsed safely.

Nothing is evaluated as code: a gate is matched by one regular expression and compared with
plain arithmetic.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_GATE = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.]*)\s*(?P<op>>=|<=|==|>|<)\s*(?:"
    rf"(?P<number>{_NUMBER})|baseline\.(?P<base>[A-Za-z_][\w.]*)"
    rf"(?:\s*(?P<sign>[-+])\s*(?P<margin>{_NUMBER}))?)\s*$")


@dataclass(frozen=True)
class Gate:
    """One parsed gate."""

    text: str
    metric: str
    op: str
    number: float | None = None
    baseline_metric: str | None = None
    margin: float = 0.0


def parse(text: str) -> Gate:
    """Parse a gate with one regular expression (nothing is evaluated).

    Args:
        text: E.g. `accuracy >= 0.9` or `f1_macro >= baseline.f1_macro - 0.01`.

    Returns:
        The gate.

    Raises:
        ValueError: The text is not a gate; the message shows the accepted forms.
    """
    match = _GATE.match(str(text))
    if match is None:
        raise ValueError(f"cannot read gate '{text}': write '<metric> <op> <number>' or "
                         "'<metric> <op> baseline.<metric> [+|- <number>]' "
                         f"with op one of {', '.join(OPS)}")
    margin = float(match["margin"] or 0.0) * (-1 if match["sign"] == "-" else 1)
    number = float(match["number"]) if match["number"] is not None else None
    return Gate(str(text).strip(), match["metric"], match["op"], number, match["base"], margin)


def check(gate: Gate, metrics: Mapping[str, float], baseline: Mapping[str, Any] | None
          ) -> dict[str, Any]:
    """A gate's result row.

    Args:
        gate: The parsed gate.
        metrics: The metrics of the model being evaluated.
        baseline: The baseline's metrics, or None when there is no baseline (yet).

    Returns:
        {gate, metric, value, threshold, baseline, passed, message}. A gate against a
        baseline metric that does not exist passes ("no baseline").
    """
    value = metrics.get(gate.metric)
    row: dict[str, Any] = {"gate": gate.text, "metric": gate.metric, "value": value,
                           "threshold": gate.number, "baseline": None, "passed": False}
    if value is None:
        row["message"] = f"gate '{gate.text}': no metric '{gate.metric}' " \
                         f"(metrics: {', '.join(sorted(metrics))})"
        return row
    if gate.baseline_metric is not None:
        base = (baseline or {}).get(gate.baseline_metric)
        if base is None:
            row.update(passed=True, message=f"gate passed: {gate.text} (no baseline)")
            return row
        row["baseline"] = float(base)
        row["threshold"] = float(base) + gate.margin
    row["passed"] = OPS[gate.op](float(value), float(row["threshold"]))
    shown = "none" if row["baseline"] is None else f"{row['baseline']:.4g}"
    verdict = "passed" if row["passed"] else "failed"
    row["message"] = (f"gate {verdict}: {gate.metric} {value:.4g} {gate.op} "
                      f"{row['threshold']:.4g} (baseline: {shown})")
    return row
