"""lockfile: a committed file, so a lossless round trip and byte-identical output for equal data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlpipe.errors import LockFileError
from mlpipe.state import lockfile
from mlpipe.state.lockfile import FORMAT, HEADER, LockEntry

FIELDS = ["kind", "key", "definition", "cmd", "params", "deps", "outs"]

TRAIN = LockEntry(
    kind="command", key="k-train", definition="d-train", cmd="python train.py --lr 0.1",
    params={"train.lr": 0.1, "seed": 1, "model": {"depth": 3, "kind": "tree"}},
    deps={"train.py": "h-code", "data/features.csv": "h-feat"},
    outs={"model.pkl": "h-model", "metrics.json": "h-metrics"},
)
PREPARE = LockEntry(kind="ingest", key="k-prep", definition="d-prep",
                    deps={"raw": "f00d.dir"}, outs={"data/features.csv": "h-feat"})


def reordered(entry: LockEntry) -> LockEntry:
    """The same entry with every mapping built in reverse insertion order."""
    def flip(mapping: Any) -> Any:
        return dict(reversed(list(mapping.items())))

    return LockEntry(kind=entry.kind, key=entry.key, definition=entry.definition,
                     cmd=entry.cmd, params=flip(entry.params), deps=flip(entry.deps),
                     outs=flip(entry.outs))


class TestRoundTrip:
    def test_write_then_read(self, tmp_path: Path) -> None:
        path = tmp_path / "mlpipe.lock"
        entries = {"train": TRAIN, "prepare": PREPARE}
        lockfile.write(path, entries)
        assert lockfile.read(path) == entries

    @pytest.mark.parametrize("value", [
        "1e10", "0123", "0x1f", "yes", "no", "null", "~", "true", "3.0", "", " lead", "a: b",
        "# not a comment", "multi\nline", "ünïcode", 1, 1.5, True, None, [1, "2"], {"a": []},
    ])
    def test_values_that_yaml_could_misread(self, tmp_path: Path, value: Any) -> None:
        path = tmp_path / "mlpipe.lock"
        entry = LockEntry(kind="command", key="12e3", definition="0755", cmd="echo 'x' \"y\"",
                          params={"p": value}, deps={"d": "1e5"}, outs={"o": "00"})
        lockfile.write(path, {"s": entry})
        assert lockfile.read(path) == {"s": entry}

    def test_missing_and_empty_files_have_no_entries(self, tmp_path: Path) -> None:
        assert lockfile.read(tmp_path / "absent.lock") == {}
        (tmp_path / "empty.lock").write_text("")
        assert lockfile.read(tmp_path / "empty.lock") == {}

    def test_write_replaces_and_leaves_no_temporary_files(self, tmp_path: Path) -> None:
        path = tmp_path / "mlpipe.lock"
        lockfile.write(path, {"train": TRAIN, "prepare": PREPARE})
        lockfile.write(path, {"prepare": PREPARE})
        assert lockfile.read(path) == {"prepare": PREPARE}
        assert [p.name for p in tmp_path.iterdir()] == ["mlpipe.lock"]


class TestDeterministicText:
    def test_insertion_order_does_not_change_the_text(self) -> None:
        one = lockfile.dumps({"train": TRAIN, "prepare": PREPARE})
        two = lockfile.dumps({"prepare": reordered(PREPARE), "train": reordered(TRAIN)})
        assert one == two

    def test_stages_sorted_fields_fixed_keys_sorted(self) -> None:
        text = lockfile.dumps({"train": TRAIN, "prepare": PREPARE, "evaluate": PREPARE})
        assert text.startswith(HEADER)
        body = yaml.safe_load(text)
        assert list(body) == ["format", "stages"] and body["format"] == FORMAT
        assert list(body["stages"]) == ["evaluate", "prepare", "train"]
        assert list(body["stages"]["train"]) == FIELDS
        assert list(body["stages"]["prepare"]) == [f for f in FIELDS if f != "cmd"]
        assert list(body["stages"]["train"]["deps"]) == ["data/features.csv", "train.py"]
        assert list(body["stages"]["train"]["params"]) == ["model", "seed", "train.lr"]

    def test_no_timestamps(self) -> None:
        text = lockfile.dumps({"train": TRAIN})
        assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", text)
        assert not re.search(r"time|date|created|updated", text, re.IGNORECASE)
        assert lockfile.dumps({"train": TRAIN}) == text

    def test_block_style_one_path_per_line(self) -> None:
        text = lockfile.dumps({"train": TRAIN})
        assert "    deps:\n      data/features.csv: h-feat\n      train.py: h-code\n" in text

    def test_nested_param_values_are_written_in_a_fixed_order_too(self) -> None:
        # Whole-value references (`x: ${params.model}`) record a mapping as one param value.
        first = LockEntry(kind="command", key="k", definition="d",
                          params={"model": {"depth": 3, "kind": "tree"}})
        second = LockEntry(kind="command", key="k", definition="d",
                           params={"model": {"kind": "tree", "depth": 3}})
        assert first == second
        assert lockfile.dumps({"s": first}) == lockfile.dumps({"s": second})


class TestUnreadable:
    @pytest.mark.parametrize(("text", "detail"), [
        pytest.param("format: 1\nstages: {a: [\n", r"invalid YAML: ", id="bad-yaml"),
        pytest.param("format: 2\nstages: {}\n", r"format 2, expected 1", id="newer-format"),
        pytest.param("stages: {}\n", r"format None, expected 1", id="no-format"),
        pytest.param("- format: 1\n", r"format None, expected 1", id="not-a-mapping"),
        pytest.param("format: 1\nstages:\n  a: hello\n", r"stage 'a': .*must be a mapping",
                     id="stage-not-a-mapping"),
        pytest.param("format: 1\nstages:\n  a: {kind: command, key: k}\n",
                     r"stage 'a': .*definition", id="stage-missing-field"),
        pytest.param("format: 1\nstages:\n  a: {kind: command, key: k, definition: d, "
                     "when: today}\n", r"stage 'a': .*'when'", id="stage-unknown-field"),
        pytest.param("format: 1\nstages: [a, b]\n", r"", id="stages-not-a-mapping"),
    ])
    def test_lock_file_error_names_the_path(self, tmp_path: Path, text: str,
                                            detail: str) -> None:
        path = tmp_path / "mlpipe.lock"
        path.write_text(text)
        with pytest.raises(LockFileError, match=rf"^{re.escape(str(path))}: unreadable lock "
                                                rf"file \({detail}") as info:
            lockfile.read(path)
        assert info.value.path == path

    def test_a_directory_in_the_way(self, tmp_path: Path) -> None:
        path = tmp_path / "mlpipe.lock"
        path.mkdir()
        with pytest.raises(LockFileError, match=r"mlpipe\.lock: unreadable lock file"):
            lockfile.read(path)


def test_the_writer_rewrites_changed_entries_and_matches_dumps(tmp_path: Path) -> None:
    path = tmp_path / "mlpipe.lock"
    writer = lockfile.LockWriter(path)
    entries = {f"s{i}": LockEntry(kind="command", key=f"k{i}", definition="d",
                                  cmd=f"echo {i} > 'out/{i}'\nsecond line",
                                  params={"p": {"b": [1, 2], "a": "x: y"}},
                                  deps={f"in/{i}": "h"}, outs={f"out/{i}": "o"})
               for i in range(3)}
    writer.write(entries)
    entries["s1"] = LockEntry(kind="command", key="changed", definition="d")
    writer.write(entries)
    assert path.read_text() == lockfile.dumps(entries)
    assert lockfile.read(path) == entries
    writer.write({})
    assert lockfile.read(path) == {}


class TestMemo:
    """`read(path, memo)`: an unchanged lock file is read from its parsed form, not as YAML."""

    @staticmethod
    def no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(*_: Any, **__: Any) -> Any:
            raise AssertionError("the lock file was parsed as YAML again")

        monkeypatch.setattr(lockfile.yaml, "load", refuse)

    def test_an_unchanged_lock_file_is_read_from_the_memo(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path, memo = tmp_path / "mlpipe.lock", tmp_path / "state" / "mlpipe.lock.json"
        entries = {"train": TRAIN, "prepare": PREPARE}
        lockfile.write(path, entries)
        assert lockfile.read(path, memo) == entries
        self.no_yaml(monkeypatch)
        assert lockfile.read(path, memo) == entries

    def test_a_changed_lock_file_is_parsed_again(self, tmp_path: Path) -> None:
        path, memo = tmp_path / "mlpipe.lock", tmp_path / "memo.json"
        lockfile.write(path, {"train": TRAIN})
        lockfile.read(path, memo)
        lockfile.write(path, {"prepare": PREPARE})
        assert lockfile.read(path, memo) == {"prepare": PREPARE}

    @pytest.mark.parametrize("memo_text", ["{", "[]", '{"format": 1, "digest": "x", "raw": 1}',
                                           '{"format": 99}'])
    def test_a_bad_or_foreign_memo_is_ignored(self, tmp_path: Path, memo_text: str) -> None:
        path, memo = tmp_path / "mlpipe.lock", tmp_path / "memo.json"
        lockfile.write(path, {"train": TRAIN})
        memo.write_text(memo_text)
        assert lockfile.read(path, memo) == {"train": TRAIN}

    @pytest.mark.parametrize("value", [{1: "int key"}, float("nan")])
    def test_values_json_cannot_give_back_are_never_memoized(
            self, tmp_path: Path, value: Any) -> None:
        path, memo = tmp_path / "mlpipe.lock", tmp_path / "memo.json"
        entry = LockEntry(kind="command", key="k", definition="d", params={"p": value})
        lockfile.write(path, {"s": entry})
        read = lockfile.read(path, memo)["s"].params["p"]
        assert read == value or (read != read and value != value)  # nan
        assert not memo.exists()

    def test_a_memo_that_cannot_be_written_only_costs_the_memo(self, tmp_path: Path) -> None:
        path, memo = tmp_path / "mlpipe.lock", tmp_path / "memo.json"
        lockfile.write(path, {"train": TRAIN})
        memo.mkdir()  # in the way, even for root
        assert lockfile.read(path, memo) == {"train": TRAIN}
        assert lockfile.read(path, memo) == {"train": TRAIN}

    def test_a_lock_file_that_is_not_utf8_is_a_lock_file_error(self, tmp_path: Path) -> None:
        path = tmp_path / "mlpipe.lock"
        path.write_bytes(b"format: 1\nstages: {a: \xff}\n")
        with pytest.raises(LockFileError, match="not UTF-8"):
            lockfile.read(path, tmp_path / "memo.json")
