"""fingerprint: what goes into a stage key, and what deliberately does not."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mlpipe.core.fingerprint import NOT_KEYED, definition, stage_key, template_hash
from mlpipe.spec.model import StageSpec

VERSIONS = {"kind": "command/1"}
DEPS = {"featurize.py": "h-code", "data/raw.csv": "h-raw"}
RAW_CMD = "python featurize.py --window ${params.featurize.window}"


def make_stage(**changes: Any) -> StageSpec:
    base = StageSpec(
        name="featurize", kind="command",
        config={"cmd": "python featurize.py --window 3"},
        deps=("featurize.py", "data/raw.csv"), outs=("features.csv", "stats.json"),
        metrics=("stats.json",), params={"featurize.window": 3}, line=4,
        raw={"kind": "command", "cmd": RAW_CMD, "deps": ["featurize.py", "data/raw.csv"],
             "outs": ["features.csv"], "metrics": ["stats.json"]},
    )
    return replace(base, **changes)


def key_of(stage: StageSpec, versions: dict[str, str] = VERSIONS,
           deps: dict[str, str] = DEPS) -> str:
    return stage_key(stage, versions, deps)


BASE_KEY = key_of(make_stage())


def with_raw(field: str, value: Any) -> dict[str, Any]:
    return {**make_stage().raw, field: value}


# One changed value per NOT_KEYED field, applied to both the StageSpec and its raw form.
EXCLUDED_CHANGES: dict[str, dict[str, Any]] = {
    "desc": {"raw": with_raw("desc", "a new description")},
    "needs": {"needs": ("prepare",), "raw": with_raw("needs", ["prepare"])},
    "frozen": {"frozen": True, "raw": with_raw("frozen", True)},
    "always_run": {"always_run": True, "raw": with_raw("always_run", True)},
    "timeout": {"timeout": 5.0, "raw": with_raw("timeout", 5)},
}


def test_every_documented_exclusion_is_covered() -> None:
    assert set(EXCLUDED_CHANGES) == NOT_KEYED


class TestKeyChanges:
    @pytest.mark.parametrize("changes", [
        pytest.param({"params": {"featurize.window": 5}}, id="param-value"),
        pytest.param({"params": {"featurize.window": "3"}}, id="param-type"),
        pytest.param({"params": {"featurize.window": 3, "seed": 1}}, id="param-added"),
        pytest.param({"config": {"cmd": "python featurize.py --window 3 -v"}}, id="cmd"),
        pytest.param({"kind": "other"}, id="kind"),
        pytest.param({"outs": ("features.parquet", "stats.json")}, id="outs"),
        pytest.param({"metrics": ()}, id="metrics"),
        pytest.param({"deps": ("featurize.py",)}, id="dep-removed"),
    ])
    def test_definition_and_params(self, changes: dict[str, Any]) -> None:
        assert key_of(make_stage(**changes)) != BASE_KEY

    @pytest.mark.parametrize("path", sorted(DEPS))
    def test_each_dep_hash(self, path: str) -> None:
        assert key_of(make_stage(), deps={**DEPS, path: "h-new"}) != BASE_KEY

    def test_kind_versions(self) -> None:
        assert key_of(make_stage(), versions={"kind": "command/2"}) != BASE_KEY
        assert key_of(make_stage(), versions={**VERSIONS, "sklearn": "1.5"}) != BASE_KEY

    def test_a_dep_swapping_hashes_with_another_changes_the_key(self) -> None:
        swapped = {"featurize.py": "h-raw", "data/raw.csv": "h-code"}
        assert key_of(make_stage(), deps=swapped) != BASE_KEY


class TestKeyStable:
    @pytest.mark.parametrize("field", sorted(EXCLUDED_CHANGES))
    def test_documented_exclusions(self, field: str) -> None:
        changed = make_stage(**EXCLUDED_CHANGES[field])
        assert key_of(changed) == BASE_KEY
        assert template_hash(changed) == template_hash(make_stage())

    def test_stage_name_and_line(self) -> None:
        assert key_of(make_stage(name="build_features", line=40)) == BASE_KEY

    def test_order_of_deps_outs_and_metrics(self) -> None:
        reordered = make_stage(deps=("data/raw.csv", "featurize.py"),
                               outs=("stats.json", "features.csv"))
        assert key_of(reordered) == BASE_KEY

    def test_hashes_of_paths_that_are_not_deps_are_ignored(self) -> None:
        assert key_of(make_stage(), deps={**DEPS, "unrelated.csv": "h-x"}) == BASE_KEY

    def test_equal_stages_built_separately_have_equal_keys(self) -> None:
        again = make_stage(config={"cmd": "python featurize.py --window 3"},
                           params={"featurize.window": 3})
        assert key_of(again) == BASE_KEY


class TestTemplateHash:
    def test_a_param_change_leaves_the_template_alone(self) -> None:
        changed = make_stage(config={"cmd": "python featurize.py --window 5"},
                             params={"featurize.window": 5})
        assert template_hash(changed) == template_hash(make_stage())
        assert key_of(changed) != BASE_KEY

    def test_an_edit_changes_the_template(self) -> None:
        edited = make_stage(raw=with_raw("cmd", RAW_CMD + " --fast"))
        assert template_hash(edited) != template_hash(make_stage())

    def test_definition_is_sorted_and_leaves_out_name_and_flags(self) -> None:
        assert definition(make_stage(frozen=True, needs=("x",))) == {
            "kind": "command",
            "config": {"cmd": "python featurize.py --window 3"},
            "deps": ["data/raw.csv", "featurize.py"],
            "outs": ["features.csv", "stats.json"],
            "metrics": ["stats.json"],
        }
