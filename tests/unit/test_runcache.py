"""runcache: stage key -> outputs; a bad entry is a warning and a miss, never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlpipe.spec.model import StageSpec
from mlpipe.state.runcache import FORMAT, RunCache, RunEntry, can_cache

KEY = "ab" + "0" * 30


class Warnings:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        self.messages.append(message)


@pytest.fixture
def warnings() -> Warnings:
    return Warnings()


@pytest.fixture
def cache(tmp_path: Path, warnings: Warnings) -> RunCache:
    return RunCache(tmp_path / "runs", warnings)


class TestRoundTrip:
    def test_put_then_get(self, cache: RunCache, warnings: Warnings) -> None:
        entry = RunEntry(outs={"model.pkl": "h1", "data": "h2.dir"}, commit="abc")
        cache.put(KEY, entry)
        assert cache.path_of(KEY) == cache.runs_dir / "ab" / f"{KEY}.json"
        assert cache.get(KEY) == entry
        assert warnings.messages == []

    def test_commit_may_be_none(self, cache: RunCache) -> None:
        cache.put(KEY, RunEntry(outs={"o": "h"}, commit=None))
        assert cache.get(KEY) == RunEntry(outs={"o": "h"}, commit=None)

    def test_unknown_key_is_a_quiet_miss(self, cache: RunCache, warnings: Warnings) -> None:
        assert cache.get("cd" + "1" * 30) is None
        assert warnings.messages == []

    def test_stored_form_has_a_format_and_sorted_outs(self, cache: RunCache) -> None:
        cache.put(KEY, RunEntry(outs={"z": "h1", "a": "h2"}, commit="c"))
        body = json.loads(cache.path_of(KEY).read_text())
        assert body == {"format": FORMAT, "outs": {"a": "h2", "z": "h1"}, "commit": "c"}
        assert list(body["outs"]) == ["a", "z"]

    def test_put_overwrites(self, cache: RunCache) -> None:
        cache.put(KEY, RunEntry(outs={"o": "old"}, commit=None))
        cache.put(KEY, RunEntry(outs={"o": "new"}, commit=None))
        assert cache.get(KEY) == RunEntry(outs={"o": "new"}, commit=None)


class TestCorruptEntries:
    @pytest.mark.parametrize(("content", "detail"), [
        pytest.param(b"{not json", "unreadable", id="garbage-json"),
        pytest.param(b"\xff\xfe\x00", "unreadable", id="not-utf8"),
        pytest.param(b"", "unreadable", id="empty"),
        pytest.param(b'{"format": 2, "outs": {}, "commit": null}', "format 2, expected 1",
                     id="newer-format"),
        pytest.param(b'{"outs": {"o": "h"}}', "format None, expected 1", id="no-format"),
        pytest.param(b"[1, 2]", "format None, expected 1", id="a-list"),
        pytest.param(b'{"format": 1, "outs": ["o"]}', "no valid 'outs'", id="outs-list"),
        pytest.param(b'{"format": 1, "outs": {"o": 5}}', "no valid 'outs'", id="outs-int"),
        pytest.param(b'{"format": 1}', "no valid 'outs'", id="no-outs"),
    ])
    def test_is_reported_removed_and_a_miss(self, cache: RunCache, warnings: Warnings,
                                            content: bytes, detail: str) -> None:
        path = cache.path_of(KEY)
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        assert cache.get(KEY) is None
        assert len(warnings.messages) == 1
        message = warnings.messages[0]
        assert message.startswith(f"{path}: corrupt run-cache entry ({detail}")
        assert message.endswith("removed, the stage will run")
        assert not path.exists()
        assert cache.get(KEY) is None and len(warnings.messages) == 1  # now a quiet miss


class TestCanCache:
    @pytest.mark.parametrize(("stage", "expected"), [
        pytest.param(StageSpec(name="s", kind="command", outs=("o",)), True, id="outs"),
        pytest.param(StageSpec(name="s", kind="command", outs=("o",), always_run=True), False,
                     id="always_run"),
        pytest.param(StageSpec(name="s", kind="command", deps=("d",)), False, id="no-outs"),
        pytest.param(StageSpec(name="s", kind="command", outs=("o",), frozen=True), True,
                     id="frozen"),
    ])
    def test_can_cache(self, stage: StageSpec, expected: bool) -> None:
        assert can_cache(stage) is expected
