"""Gate parsing and checking: no code is evaluated, arithmetic only."""

from __future__ import annotations

import pytest

from mlpipe.ml.gates import check, parse


def test_parse_number_and_baseline_forms() -> None:
    gate = parse(" accuracy >= 0.9 ")
    assert (gate.metric, gate.op, gate.number, gate.baseline_metric) == ("accuracy", ">=", 0.9,
                                                                         None)
    relative = parse("f1_macro >= baseline.f1_macro - 0.01")
    assert (relative.baseline_metric, relative.margin, relative.number) == ("f1_macro", -0.01,
                                                                            None)
    assert parse("rmse < 1e-2").number == 0.01
    assert parse("rmse<=baseline.rmse+0.5").margin == 0.5


@pytest.mark.parametrize("text", ["accuracy >> 1", "__import__('os') > 1", "accuracy >= x",
                                  "accuracy >= baseline.", "", ">= 1", "a >= 1; b"])
def test_anything_else_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read gate"):
        parse(text)


def test_check_against_numbers_and_baselines() -> None:
    metrics = {"accuracy": 0.85, "rmse": 2.0}
    failed = check(parse("accuracy >= 0.9"), metrics, None)
    assert failed["passed"] is False
    assert failed["message"] == "gate failed: accuracy 0.85 >= 0.9 (baseline: none)"
    assert check(parse("rmse < 3"), metrics, None)["passed"] is True
    relative = check(parse("accuracy >= baseline.accuracy - 0.1"), metrics, {"accuracy": 0.9})
    assert relative["passed"] is True and relative["threshold"] == pytest.approx(0.8)
    assert relative["message"].endswith("(baseline: 0.9)")
    worse = check(parse("accuracy > baseline.accuracy"), metrics, {"accuracy": 0.9})
    assert worse["passed"] is False and worse["baseline"] == 0.9
    first = check(parse("accuracy > baseline.accuracy"), metrics, None)
    assert first["passed"] is True and "(no baseline)" in first["message"]
    missing = check(parse("auc > 0.5"), metrics, None)
    assert missing["passed"] is False and "no metric 'auc'" in missing["message"]
