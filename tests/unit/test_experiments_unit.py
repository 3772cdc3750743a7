"""Experiments as pure values: the grid, the runs table, and params written into YAML text."""

from __future__ import annotations

import pytest

from mlpipe.api.expapply import set_values
from mlpipe.api.exprun import grid
from mlpipe.errors import UsageError
from mlpipe.revisions import exptable
from mlpipe.state.experiments import Experiment


def _exp(name: str, metrics: dict, overrides: dict | None = None) -> Experiment:
    return Experiment(name=name, base="a" * 40, tree="a" * 40, pipeline="mlpipe.yaml",
                      overrides=overrides or {}, params=overrides or {}, metrics=metrics,
                      created=name)


def test_grid_is_every_combination_first_key_slowest() -> None:
    assert grid(["a=1,2", "b=x,y"]) == [("a=1", "b=x"), ("a=1", "b=y"), ("a=2", "b=x"),
                                        ("a=2", "b=y")]
    assert grid(["a=[1,2]"]) == [("a=[1,2]",)]
    assert grid([]) == [()]


def test_best_is_lowest_for_losses_and_highest_otherwise() -> None:
    table = exptable.build([_exp("e1", {"m.json": {"acc": 0.9, "val_loss": 0.5}}),
                            _exp("e2", {"m.json": {"acc": 0.8, "val_loss": 0.2}})])
    assert table.best == {"acc": frozenset({"e1"}), "val_loss": frozenset({"e2"})}
    assert [r["name"] for r in exptable.build(
        [_exp("e1", {"m.json": {"rmse": 3}}), _exp("e2", {"m.json": {"rmse": 1}})],
        "rmse").rows] == ["e2", "e1"]


def test_only_names_two_files_share_are_qualified() -> None:
    exps = [_exp("e1", {"a.json": {"acc": 1, "f1": 2}, "b.json": {"acc": 3}})]
    assert exptable.build(exps).metrics == ("a.json:acc", "b.json:acc", "f1")


def test_a_param_is_written_in_place_keeping_comments() -> None:
    text = "params:\n  model: {C: 1.0, max_iter: 500}  # tuned\n  seed: 3 # fixed\nstages: {}\n"
    out = set_values(text, {"model.C": 0.25, "seed": 4}, ("params",), "mlpipe.yaml")
    assert out == ("params:\n  model: {C: 0.25, max_iter: 500}  # tuned\n  seed: 4 # fixed\n"
                   "stages: {}\n")


def test_a_param_that_is_not_one_plain_value_is_refused() -> None:
    with pytest.raises(UsageError, match="cannot write param 'model'"):
        set_values("model: {C: 1}\n", {"model": 3}, (), "params.yaml")
