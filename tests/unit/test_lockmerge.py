"""lockmerge: stage-by-stage merge of lock files against their base."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpipe.errors import LockConflictError
from mlpipe.state import lockfile
from mlpipe.state.lockfile import Lock, LockEntry
from mlpipe.state.lockmerge import merge


def entry(key: str) -> LockEntry:
    return LockEntry(kind="command", key=key, definition="d", outs={"o": f"h-{key}"})


BASE = Lock({"a": entry("a0"), "b": entry("b0"), "c": entry("c0"), "gone": entry("g0")})


@pytest.mark.parametrize(("ours", "theirs", "expected", "dropped"), [
    pytest.param({"a": "a1"}, {}, {"a": "a1"}, (), id="changed-on-our-side"),
    pytest.param({}, {"a": "a2"}, {"a": "a2"}, (), id="changed-on-their-side"),
    pytest.param({"a": "a1"}, {"a": "a1"}, {"a": "a1"}, (), id="same-change-on-both"),
    pytest.param({"a": "a1"}, {"a": "a2"}, {}, ("a",), id="different-changes-dropped"),
    pytest.param({"new": "n1"}, {}, {"new": "n1"}, (), id="added-on-one-side"),
    pytest.param({"new": "n1"}, {"new": "n2"}, {}, ("new",), id="added-differently"),
    pytest.param({"gone": None}, {}, {"gone": None}, (), id="removed-on-one-side"),
    pytest.param({"gone": None}, {"gone": "g2"}, {"gone": None}, ("gone",),
                 id="removed-and-changed"),
])
def test_merge_stage_by_stage(ours: dict[str, str | None], theirs: dict[str, str | None],
                              expected: dict[str, str | None], dropped: tuple[str, ...]) -> None:
    def side(changes: dict[str, str | None]) -> Lock:
        entries = dict(BASE)
        for name, key in changes.items():
            if key is None:
                entries.pop(name, None)
            else:
                entries[name] = entry(key)
        return Lock(entries)

    result = merge(BASE, side(ours), side(theirs))
    want = {name: entry(key) for name, key in {**{n: e.key for n, e in BASE.items()},
                                                  **expected}.items()
            if key is not None and name not in dropped}
    assert dict(result.lock) == want
    assert result.dropped == dropped and result.lock.unmerged == set(dropped)


def test_unmerged_stages_carry_over_until_one_side_runs_them() -> None:
    base = Lock({"b": entry("b0")}, frozenset({"a"}))
    still = Lock({"b": entry("b1")}, frozenset({"a"}))
    ran = Lock({"a": entry("a5"), "b": entry("b0")})
    assert merge(base, still, Lock(dict(base), frozenset({"a"}))).lock.unmerged == {"a"}
    result = merge(base, still, ran)
    assert dict(result.lock) == {"a": entry("a5"), "b": entry("b1")}
    assert result.lock.unmerged == set()


def test_unmerged_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mlpipe.lock"
    lockfile.write(path, Lock({"b": entry("b")}, frozenset({"z", "a"})))
    assert path.read_text().endswith("unmerged:\n- a\n- z\n")
    read = lockfile.read(path)
    assert dict(read) == {"b": entry("b")} and read.unmerged == {"a", "z"}
    lockfile.write(path, Lock({"a": entry("a"), "b": entry("b")}, read.unmerged))
    assert lockfile.read(path).unmerged == {"z"}


def test_an_old_lock_file_with_commits_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "mlpipe.lock"
    path.write_text("format: 1\nstages:\n  a:\n    kind: command\n    key: k\n"
                    "    definition: d\n    outs: {o: h}\n    commit: 0123abcd\n")
    assert lockfile.read(path) == {"a": LockEntry("command", "k", "d", outs={"o": "h"})}
    lockfile.write(path, lockfile.read(path))
    assert "commit" not in path.read_text()


@pytest.mark.parametrize("marker", ["<<<<<<< HEAD", "=======", ">>>>>>> right",
                                    "||||||| base"])
def test_conflict_markers_are_named_with_their_line(tmp_path: Path, marker: str) -> None:
    path = tmp_path / "mlpipe.lock"
    path.write_text(f"format: 1\nstages:\n{marker}\n  a: {{}}\n")
    with pytest.raises(LockConflictError, match=rf"^{path}:3: the lock file holds git "
                                                r"conflict markers from a merge; take one side"):
        lockfile.read(path)
