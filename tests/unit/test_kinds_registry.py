"""The stage-kind registry: lookup by name, and kinds added by a decorator."""

from __future__ import annotations

import pytest

from mlpipe import kinds
from mlpipe.kinds import registry
from mlpipe.kinds.command import CommandKind
from mlpipe.kinds.plugin import StageContext, StageKind, StageResult


def test_a_builtin_kind_is_found_by_name() -> None:
    assert isinstance(kinds.get("command"), CommandKind)


def test_an_unknown_kind_names_the_nearest_one() -> None:
    with pytest.raises(kinds.UnknownKind, match=r"unknown kind 'comand' .*did you mean 'command'"):
        kinds.get("comand")


def test_a_kind_added_after_a_lookup_is_the_one_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry._REGISTERED))
    assert isinstance(kinds.get("command"), CommandKind)  # looked up (and kept) first

    @kinds.add_kind
    class Replacement(StageKind):
        name = "command"

        def run(self, ctx: StageContext) -> StageResult:
            return StageResult()

    assert isinstance(kinds.get("command"), Replacement)
    assert "command" in kinds.known()
