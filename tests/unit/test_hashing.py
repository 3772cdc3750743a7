"""hashing: one hash function for bytes, files, directory manifests and structured data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlpipe.state import hashing
from mlpipe.state.hashing import (
    canonical_json,
    dict_hash,
    dir_hash,
    hash_bytes,
    hash_file,
    is_dir_hash,
    manifest_bytes,
)


class TestDictHash:
    def test_key_order_does_not_matter_at_any_depth(self) -> None:
        one = {"a": 1, "b": {"x": [1, 2], "y": None}, "c": "s"}
        two = {"c": "s", "b": {"y": None, "x": [1, 2]}, "a": 1}
        assert list(one) != list(two)
        assert dict_hash(one) == dict_hash(two)

    @pytest.mark.parametrize("other", [
        {"a": 2}, {"a": "1"}, {"a": 1.5}, {"a": True}, {"a": [1]}, {"b": 1}, {"a": 1, "b": 1},
    ])
    def test_any_value_or_key_change_changes_the_hash(self, other: dict[str, object]) -> None:
        assert dict_hash(other) != dict_hash({"a": 1})

    def test_list_order_matters(self) -> None:
        assert dict_hash([1, 2]) != dict_hash([2, 1])

    def test_canonical_json_is_compact_sorted_and_unicode(self) -> None:
        assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()

    def test_is_a_32_hex_digit_xxh3_128(self) -> None:
        digest = dict_hash({})
        assert len(digest) == 32 and int(digest, 16) >= 0
        assert digest == hash_bytes(b"{}")


class TestFiles:
    def test_file_hash_is_the_hash_of_its_bytes(self, tmp_path: Path) -> None:
        path = tmp_path / "f.bin"
        data = bytes(range(256)) * 10
        path.write_bytes(data)
        assert hash_file(path) == hash_bytes(data)

    def test_chunked_reading_gives_the_same_hash(self, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        path = tmp_path / "f.bin"
        data = b"0123456789" * 7 + b"tail"
        path.write_bytes(data)
        monkeypatch.setattr(hashing, "CHUNK", 7)
        assert hash_file(path) == hash_bytes(data)

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty"
        path.write_bytes(b"")
        assert hash_file(path) == hash_bytes(b"")
        assert hash_file(path) != hash_bytes(b"\0")


class TestDirHash:
    ENTRIES = [("b/x.csv", "h2"), ("a.csv", "h1")]

    def test_ends_with_dir_and_is_recognised(self) -> None:
        digest = dir_hash(self.ENTRIES)
        assert digest.endswith(".dir") and is_dir_hash(digest)
        assert not is_dir_hash(hash_bytes(b"x"))

    def test_is_the_hash_of_the_sorted_manifest(self) -> None:
        manifest = manifest_bytes(self.ENTRIES)
        assert json.loads(manifest) == [["a.csv", "h1"], ["b/x.csv", "h2"]]
        assert dir_hash(self.ENTRIES) == hash_bytes(manifest) + ".dir"
        assert dir_hash(reversed(self.ENTRIES)) == dir_hash(self.ENTRIES)

    @pytest.mark.parametrize("entries", [
        [("a.csv", "h1-changed"), ("b/x.csv", "h2")],
        [("a.csv", "h1"), ("b/y.csv", "h2")],
        [("a.csv", "h1")],
        [("a.csv", "h1"), ("b/x.csv", "h2"), ("c", "h3")],
    ])
    def test_a_changed_renamed_removed_or_added_file_changes_it(
            self, entries: list[tuple[str, str]]) -> None:
        assert dir_hash(entries) != dir_hash(self.ENTRIES)
