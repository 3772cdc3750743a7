"""Model cards: built from a version and its facts, laid out, rendered, stored once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpipe.models import card as cardlib
from mlpipe.models.cardstore import CardStore
from mlpipe.models.registry import ModelVersion, Registry, RegistryError
from mlpipe.state.lockfile import LockEntry


def a_version(**changes: object) -> ModelVersion:
    fields = {
        "name": "iris", "version": 3, "digest": "d" * 32,
        "meta": {"task": "classification", "target": "species", "classes": [0, 1],
                 "features": [{"name": "petal_length", "dtype": "float64"}],
                 "estimator": "sklearn.linear_model.LogisticRegression",
                 "params": {"C": 0.5}, "seed": 7, "training_data_hash": "t1", "rows": 105,
                 "cv": {"folds": 5, "mean": 0.95, "std": 0.01},
                 "library_versions": {"scikit-learn": "1.5.0", "python": "3.11.7"}},
        "metrics": {"accuracy": 0.9, "f1_macro": 0.88},
        "lineage": {"git_commit": "c0ffee", "git_dirty": True, "stage": "register",
                    "inputs": {"model": {"path": "out/train/model.joblib", "hash": "h1"}},
                    "params": {}},
        "gates_passed": False, "created_at": "2026-01-02T03:04:05+00:00",
    }
    fields.update(changes)
    return ModelVersion(**fields)  # type: ignore[arg-type]


LOCK = {
    "ingest": LockEntry("ingest", "k-ingest", "d", params={"split.seed": 1},
                        outs={"out/ingest/train.parquet": "t1", "out/ingest/test.parquet": "t2"}),
    "train": LockEntry("train", "k-train", "d", params={"model.C": 0.5},
                       deps={"out/ingest/train.parquet": "t1"},
                       outs={"out/train/model.joblib": "h1", "out/train/meta.json": "m1"}),
    "evaluate": LockEntry("evaluate", "k-eval", "d", params={"gate": 0.8},
                          deps={"out/train/model.joblib": "h1", "out/ingest/test.parquet": "t2"},
                          outs={"out/evaluate/report.json": "r1", "out/evaluate/plots": "p.dir"}),
    "other": LockEntry("other", "k-other", "d", outs={"elsewhere.txt": "e1"}),
}
REPORT = {"metrics": {"accuracy": 0.9}, "gates_passed": False,
          "slices": {"city": {"Paris": {"rows": 10, "accuracy": 0.8}}},
          "gates": [{"gate": "accuracy >= 0.95", "value": 0.9, "threshold": 0.95,
                     "baseline": None, "passed": False, "message": "gate failed"}]}
VALIDATION = {"passed": False, "checks": [
    {"check": "rows", "column": None, "passed": True, "message": "rows: 105 (min 50)"},
    {"check": "max", "column": "petal_length", "passed": False, "message": "max 12 > 10"}]}


def test_upstream_stages_walk_the_lock_file_back_from_the_inputs() -> None:
    commits = {"k-train": "c0ffee"}
    found = cardlib.upstream_stages(LOCK, ["out/evaluate/report.json", "not/produced.json"],
                                    commits.get)
    assert list(found) == ["evaluate", "ingest", "train"]  # 'other' made nothing it used
    assert found["train"] == {"key": "k-train", "commit": "c0ffee", "params": {"model.C": 0.5},
                              "deps": {"out/ingest/train.parquet": "t1"}}
    assert list(cardlib.upstream_stages(LOCK, ["out/evaluate/plots/roc.png"])) == [
        "evaluate", "ingest", "train"]  # a file inside a directory output
    assert cardlib.upstream_stages({}, ["out/train/model.joblib"]) == {}


def test_build_gathers_every_part_of_the_card() -> None:
    facts = cardlib.CardFacts(
        intended_use="Sort flowers.", report=REPORT, validation=VALIDATION,
        validation_path="out/validate/report.json",
        stages=cardlib.upstream_stages(LOCK, ["out/evaluate/report.json"],
                                       {"k-train": "c0ffee"}.get),
        mlpipe_version="9.9")
    card = cardlib.build(a_version(), facts)
    assert card["model"] == {"name": "iris", "version": 3, "digest": "d" * 32,
                             "created_at": "2026-01-02T03:04:05+00:00", "gates_passed": False}
    assert card["intended_use"] == "Sort flowers."
    assert card["training_data"] == {"path": "out/ingest/train.parquet", "hash": "t1",
                                     "rows": 105, "target": "species",
                                     "task": "classification", "classes": [0, 1]}
    assert card["features"] == [{"name": "petal_length", "dtype": "float64"}]
    assert card["hyperparams"] == {"C": 0.5}
    assert card["params"] == {"gate": 0.8, "model.C": 0.5, "split.seed": 1}
    assert card["training"]["cv"]["folds"] == 5 and card["training"]["seed"] == 7
    assert card["slices"] == REPORT["slices"]
    assert card["gates"] == [{"gate": "accuracy >= 0.95", "value": 0.9, "threshold": 0.95,
                              "baseline": None, "passed": False}]
    assert card["validation"] == {
        "path": "out/validate/report.json", "passed": False, "checks": 2,
        "failed": [{"check": "max", "column": "petal_length", "message": "max 12 > 10"}]}
    assert card["lineage"]["git_commit"] == "c0ffee" and card["lineage"]["git_dirty"] is True
    assert card["lineage"]["stages"]["train"] == {"key": "k-train", "commit": "c0ffee"}
    assert card["library_versions"] == {"scikit-learn": "1.5.0", "python": "3.11.7",
                                        "mlpipe": "9.9"}


def test_a_card_without_reports_or_description_says_so() -> None:
    card = cardlib.build(a_version(meta={}), cardlib.CardFacts())
    assert card["training_data"]["path"] is None and card["validation"] is None
    markdown = cardlib.to_markdown(card)
    assert f"## Intended use\n\n{cardlib.NO_INTENDED_USE}" in markdown
    assert "No validation report was given" in markdown
    assert "## Gates\n\nNo gates recorded." in markdown


def test_markdown_tables_survive_pipes_and_line_breaks() -> None:
    meta = {"features": [{"name": "a|b\nc", "dtype": "float64"}]}
    markdown = cardlib.to_markdown(cardlib.build(a_version(meta=meta), cardlib.CardFacts(
        report=REPORT, validation=VALIDATION)))
    assert "| a\\|b c | float64 |" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in rows)
    assert "| accuracy >= 0.95 | 0.9 | 0.95 | FAIL |" in markdown
    assert "Failed: 1 of 2 checks passed (report)." in markdown
    assert "| max | petal_length | max 12 > 10 |" in markdown
    assert "## Metrics per slice: city\n\n| city | accuracy | rows |\n|---|---|---|\n" \
           "| Paris | 0.8 | 10 |" in markdown


def test_the_store_keeps_the_first_card(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    version = Registry(tmp_path / ".mlpipe").register("iris", model, {}, {}, {})
    cards = CardStore(tmp_path / ".mlpipe")
    assert cards.get(version) is None
    assert cards.put(version, {"intended_use": "first"}) == {"intended_use": "first"}
    assert cards.put(version, {"intended_use": "second"}) == {"intended_use": "first"}
    assert cards.require(version) == {"intended_use": "first"}


def test_reading_cards_creates_no_registry(tmp_path: Path) -> None:
    cards = CardStore(tmp_path / ".mlpipe")
    with pytest.raises(RegistryError, match=r"model iris:3 has no card"):
        cards.require(a_version())
    assert not (tmp_path / ".mlpipe").exists()


def test_a_card_that_json_cannot_hold_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"cannot store the card of iris:3"):
        CardStore(tmp_path).put(a_version(), {"bad": object()})


def test_intended_use_is_the_pipeline_files_description(tmp_path: Path) -> None:
    from mlpipe.kinds.register_model import intended_use

    stages = "stages:\n  a: {kind: command, cmd: 'true'}\n"
    (tmp_path / "mlpipe.yaml").write_text(f"description: '  Sort flowers.  '\n{stages}")
    (tmp_path / "train.yml").write_text(stages)
    (tmp_path / "odd.yaml").write_text(f"description: 3\n{stages}")
    (tmp_path / "broken.yaml").write_text("description: [unclosed\n")
    assert intended_use(tmp_path / "mlpipe.yaml") == "Sort flowers."
    assert intended_use(tmp_path / "train.yml") is None  # a pipeline without a description
    assert intended_use(tmp_path / "odd.yaml") == "3"
    assert intended_use(tmp_path / "broken.yaml") is None
    assert intended_use(tmp_path / "missing.yaml") is None
    assert intended_use(None) is None
