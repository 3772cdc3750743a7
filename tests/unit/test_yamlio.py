"""yamlio: YAML with line/column marks, duplicate keys as errors, errors naming file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpipe.errors import SpecError
from mlpipe.spec.yamlio import MAX_DEPTH, MAX_VALUES, MarkedDict, load_file, loads

PATH = Path("x.yaml")

SOURCE = Path("/somewhere/mlpipe.yaml")


class TestMarks:
    def test_mappings_are_marked_dicts_with_1_based_key_positions(self) -> None:
        doc = loads("name: demo\nstages:\n  train:\n    kind: command\n", SOURCE)
        assert isinstance(doc, MarkedDict)
        assert doc == {"name": "demo", "stages": {"train": {"kind": "command"}}}
        assert (doc.line, doc.col) == (1, 1)
        assert doc.mark_of("stages") == (2, 1)
        assert doc["stages"].mark_of("train") == (3, 3)
        assert doc["stages"]["train"].mark_of("kind") == (4, 5)

    def test_mark_of_an_absent_key_is_where_the_mapping_starts(self) -> None:
        doc = loads("top: 1\nnested:\n  a: 1\n  b: 2\n", SOURCE)
        assert doc["nested"].mark_of("zzz") == (3, 3)

    def test_mappings_inside_lists_are_marked_too(self) -> None:
        doc = loads("- a\n- b: 1\n  c: 2\n", SOURCE)
        assert doc[0] == "a"
        assert isinstance(doc[1], MarkedDict)
        assert doc[1].mark_of("c") == (3, 3)


class TestErrors:
    @pytest.mark.parametrize(("text", "pattern"), [
        pytest.param("stages:\n  a: [unclosed\n",
                     r"^/somewhere/mlpipe\.yaml:3:1: invalid YAML: did not find expected ','",
                     id="unclosed-flow-list"),
        pytest.param("a:\n\tb: 1\n",
                     r"^/somewhere/mlpipe\.yaml:2:1: invalid YAML: found character that cannot",
                     id="tab-indent"),
        pytest.param("a: 'x\n", r"^/somewhere/mlpipe\.yaml:2:1: invalid YAML: found unexpected end",
                     id="unterminated-quote"),
        pytest.param("a: 1\n---\nb: 2\n",
                     r"^/somewhere/mlpipe\.yaml:2:1: invalid YAML: but found another document",
                     id="two-documents"),
    ])
    def test_malformed_yaml_names_file_line_and_column(self, text: str, pattern: str) -> None:
        with pytest.raises(SpecError, match=pattern):
            loads(text, SOURCE)

    @pytest.mark.parametrize(("text", "line", "col", "first"), [
        pytest.param("stages:\n  a:\n    kind: command\n  a:\n    kind: command\n", 4, 3, 2,
                     id="stage-name"),
        pytest.param("stages:\n  a:\n    kind: command\n    kind: other\n", 4, 5, 3,
                     id="stage-field"),
        pytest.param("name: x\nstages: {}\nname: y\n", 3, 1, 1, id="top-level"),
        pytest.param("a: {b: 1, b: 2}\n", 1, 11, 1, id="flow-mapping"),
    ])
    def test_duplicate_key_points_at_the_second_and_names_the_first(
            self, text: str, line: int, col: int, first: int) -> None:
        with pytest.raises(SpecError, match=rf":{line}:{col}: duplicate key '\w+' "
                                            rf"\(first defined on line {first}\)$") as info:
            loads(text, SOURCE)
        assert (info.value.path, info.value.line, info.value.col) == (SOURCE, line, col)

    def test_unhashable_key_is_an_error_not_a_crash(self) -> None:
        with pytest.raises(SpecError, match=r":1:3: a mapping key must be a plain value"):
            loads("? [a, b]\n: 1\n", SOURCE)


class TestLoadFile:
    def test_reads_and_parses(self, tmp_path: Path) -> None:
        path = tmp_path / "p.yaml"
        path.write_text("a: [1, 2]\n", encoding="utf-8")
        assert load_file(path) == {"a": [1, 2]}

    def test_missing_file_names_the_path(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.yaml"
        with pytest.raises(SpecError, match=r"nope\.yaml: file not found$") as info:
            load_file(path)
        assert info.value.path == path

    def test_undecodable_file_is_a_spec_error(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"a: caf\xe9\n")
        with pytest.raises(SpecError, match=r"latin1\.yaml: cannot read file"):
            load_file(path)


class TestLimits:
    """Depth and size limits hold the same whether or not the document has aliases."""

    @pytest.mark.parametrize("tail", ["", "\nnote: 'a * in text takes the alias path'\n"])
    def test_nesting_limit_is_the_same_on_both_paths(self, tail: str) -> None:
        def nested(n: int) -> str:
            return "a: " + "[" * n + "1" + "]" * n + tail

        assert loads(nested(MAX_DEPTH - 2), PATH)["a"]
        with pytest.raises(SpecError, match=r"x\.yaml:1:\d+: .*nested more than"):
            loads(nested(MAX_DEPTH - 1), PATH)

    def test_a_huge_document_without_aliases_is_refused(self) -> None:
        text = "a: [" + ", ".join(["1"] * (MAX_VALUES + 1)) + "]\n"
        with pytest.raises(SpecError, match=r"x\.yaml:1:\d+: .*more than 100000 values"):
            loads(text, PATH)
