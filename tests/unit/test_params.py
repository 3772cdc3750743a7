"""spec.params: merging, dotted lookup, -S overrides and ${params.x} interpolation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlpipe.spec.params import (
    MISSING,
    ParamError,
    apply_overrides,
    flat_keys,
    interpolate,
    lookup,
    merge,
    parse_override,
    require,
)

PARAMS: dict[str, Any] = {
    "featurize": {"window": 3, "method": "mean"},
    "train": {"lr": 0.1, "layers": [64, 32], "early_stop": True},
    "seed": 7,
}


class TestMerge:
    def test_overlay_wins_and_nested_keys_of_base_survive(self) -> None:
        base = {"a": {"x": 1, "y": 2}, "b": 1}
        overlay = {"a": {"y": 20, "z": 30}, "c": 3}
        assert merge(base, overlay) == {"a": {"x": 1, "y": 20, "z": 30}, "b": 1, "c": 3}

    def test_scalar_replaces_mapping_and_back(self) -> None:
        assert merge({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
        assert merge({"a": 5}, {"a": {"x": 1}}) == {"a": {"x": 1}}

    def test_inputs_are_not_mutated(self) -> None:
        base = {"a": {"x": 1}}
        overlay = {"a": {"x": 2}}
        merge(base, overlay)
        assert base == {"a": {"x": 1}} and overlay == {"a": {"x": 2}}


class TestLookup:
    @pytest.mark.parametrize(("key", "value"), [
        ("featurize.window", 3),
        ("train.layers", [64, 32]),
        ("featurize", {"window": 3, "method": "mean"}),
        ("seed", 7),
    ])
    def test_found(self, key: str, value: Any) -> None:
        assert lookup(PARAMS, key) == value

    @pytest.mark.parametrize("key", ["nope", "featurize.nope", "seed.deeper", "train.lr.x"])
    def test_missing(self, key: str) -> None:
        assert lookup(PARAMS, key) is MISSING

    def test_none_is_a_value_not_missing(self) -> None:
        assert lookup({"a": None}, "a") is None

    def test_flat_keys_lists_every_leaf(self) -> None:
        assert sorted(flat_keys(PARAMS)) == [
            "featurize.method", "featurize.window", "seed",
            "train.early_stop", "train.layers", "train.lr"]

    def test_require_suggests_the_nearest_key(self) -> None:
        with pytest.raises(ParamError, match=r"undefined param 'featurize.windw' "
                                             r"\(did you mean 'featurize.window'\?\)") as info:
            require(PARAMS, "featurize.windw")
        assert info.value.key == "featurize.windw"


class TestOverrides:
    @pytest.mark.parametrize(("text", "key", "value"), [
        ("seed=5", "seed", 5),
        ("train.lr=0.5", "train.lr", 0.5),
        ("train.early_stop=false", "train.early_stop", False),
        ("featurize.method=median", "featurize.method", "median"),
        ("featurize.method='5'", "featurize.method", "5"),
        ("train.layers=[8, 4]", "train.layers", [8, 4]),
        ("seed=", "seed", ""),
        ("seed=null", "seed", None),
        (" seed = 9 ", "seed", 9),
        ("featurize.method=a=b", "featurize.method", "a=b"),
        ("featurize.method=[unclosed", "featurize.method", "[unclosed"),
    ])
    def test_values_are_yaml_scalars(self, text: str, key: str, value: Any) -> None:
        assert parse_override(text) == (key, value)
        assert lookup(apply_overrides(PARAMS, [text]), key) == value

    def test_only_the_named_leaf_changes_and_the_input_is_untouched(self) -> None:
        before = copy.deepcopy(PARAMS)
        result = apply_overrides(PARAMS, ["featurize.window=5", "seed=1"])
        assert before == PARAMS
        assert result == {**before, "featurize": {"window": 5, "method": "mean"}, "seed": 1}

    def test_later_override_wins(self) -> None:
        assert apply_overrides(PARAMS, ["seed=1", "seed=2"])["seed"] == 2

    @pytest.mark.parametrize(("text", "pattern"), [
        ("sed=1", r"undefined param 'sed' \(did you mean 'seed'\?\)"),
        ("featurize.windoww=1", r"undefined param 'featurize.windoww' "
                                r"\(did you mean 'featurize.window'\?\)"),
        ("train.lr.deep=1", r"undefined param 'train.lr.deep'"),
    ])
    def test_unknown_key_is_rejected(self, text: str, pattern: str) -> None:
        with pytest.raises(ParamError, match=pattern):
            apply_overrides(PARAMS, [text])

    @pytest.mark.parametrize("text", ["seed", "=5", ""])
    def test_malformed_override(self, text: str) -> None:
        with pytest.raises(ParamError, match="expected KEY=VALUE"):
            parse_override(text)


class TestInterpolate:
    def test_whole_value_keeps_the_type(self) -> None:
        used: dict[str, Any] = {}
        assert interpolate("${params.featurize.window}", PARAMS, used) == 3
        assert interpolate("  ${ params.train.layers }  ", PARAMS, used) == [64, 32]
        assert interpolate("${params.featurize}", PARAMS, used) == PARAMS["featurize"]
        assert used == {"featurize.window": 3, "train.layers": [64, 32],
                        "featurize": PARAMS["featurize"]}

    def test_inside_text_renders_strings_raw_and_the_rest_as_json(self) -> None:
        used: dict[str, Any] = {}
        text = ("w=${params.featurize.window} m=${params.featurize.method} "
                "stop=${params.train.early_stop} layers=${params.train.layers}")
        assert interpolate(text, PARAMS, used) == "w=3 m=mean stop=true layers=[64, 32]"
        assert set(used) == {"featurize.window", "featurize.method", "train.early_stop",
                             "train.layers"}

    def test_walks_lists_and_mappings(self) -> None:
        used: dict[str, Any] = {}
        value = {"cmd": ["run ${params.seed}", "${params.train.lr}"], "n": 1, "flag": None}
        assert interpolate(value, PARAMS, used) == {"cmd": ["run 7", 0.1], "n": 1, "flag": None}
        assert used == {"seed": 7, "train.lr": 0.1}

    def test_text_without_references_is_unchanged(self) -> None:
        used: dict[str, Any] = {}
        assert interpolate("echo $HOME ${HOME} {params.seed}", PARAMS, used) == (
            "echo $HOME ${HOME} {params.seed}")
        assert used == {}

    @pytest.mark.parametrize("text", ["${params.sed}", "echo ${params.sed} now"])
    def test_undefined_reference(self, text: str) -> None:
        with pytest.raises(ParamError, match=r"undefined param 'sed' \(did you mean 'seed'\?\)"):
            interpolate(text, PARAMS, {})
