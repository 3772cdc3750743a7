"""Two clones register and promote at the same time and share the registry through a
directory remote: whichever pushes first, both end with one registry — the same versions,
numbered alike, the same alias holder — and an alias history holding every move."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
from conftest import Invoke, git, git_commit, git_init, write_tree

from mlpipe.models.registry import Registry


def _model(where: Path, label: int) -> Path:
    from sklearn.dummy import DummyClassifier

    path = where / f"model-{label}.pkl"
    path.write_bytes(pickle.dumps(DummyClassifier(constant=label, strategy="constant")
                                  .fit([[0.0], [1.0]], [label, label + 1])))
    return path


@pytest.fixture
def clones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    a, b, models = tmp_path / "a", tmp_path / "b", tmp_path / "models"
    models.mkdir()
    a.mkdir()
    git_init(a)
    write_tree(a, {"mlpipe.yaml": f"remote: {tmp_path / 'remote'}\nstages:\n"
                                  "  noop: {kind: command, cmd: 'true'}\n",
                   "sample.csv": "x\n0.5\n"})
    git_commit(a, "pipeline")
    git(tmp_path, "clone", "-q", str(a), str(b))
    monkeypatch.setenv("MLPIPE_LOCK_WAIT", "0.5")
    return a, b, models


def _in(monkeypatch: pytest.MonkeyPatch, mlpipe: Invoke, where: Path, *args: str) -> str:
    monkeypatch.chdir(where)
    result = mlpipe(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _register(monkeypatch: pytest.MonkeyPatch, mlpipe: Invoke, where: Path, model: Path,
              alias: str | None = None) -> str:
    extra = ("--alias", alias) if alias else ()
    return _in(monkeypatch, mlpipe, where, "models", "register", "m", str(model), "--data",
               "sample.csv", *extra)


def _state(root: Path) -> tuple[list[tuple[int, str]], dict[str, int], list[tuple[int, bool]]]:
    registry = Registry(root / ".mlpipe")
    history = [(h["version"], h["rolled_back"]) for h in registry.alias_history("m", "champion")]
    return ([(v.version, v.digest) for v in registry.list()], registry.aliases("m"), history)


@pytest.mark.parametrize("first", ["a", "b"])
def test_concurrent_registrations_and_promotions_merge_alike(
        clones: tuple[Path, Path, Path], mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch,
        first: str) -> None:
    a, b, models = clones
    _register(monkeypatch, mlpipe, a, _model(models, 1), "champion")
    _in(monkeypatch, mlpipe, a, "push")
    _in(monkeypatch, mlpipe, b, "pull")
    assert _state(b) == _state(a)
    time.sleep(1.1)  # move times are kept to the second: the next moves come later
    # meanwhile, in both clones: a new model each, promoted; and the same bytes in both
    assert _register(monkeypatch, mlpipe, a, _model(models, 2), "champion").startswith(
        "registered m:2")
    time.sleep(1.1)  # registration times are kept to the second
    assert _register(monkeypatch, mlpipe, b, _model(models, 3), "champion").startswith(
        "registered m:2")
    time.sleep(1.1)
    same = _model(models, 4)
    _register(monkeypatch, mlpipe, a, same)
    _register(monkeypatch, mlpipe, b, same)
    one, other = (a, b) if first == "a" else (b, a)
    _in(monkeypatch, mlpipe, one, "push")
    _in(monkeypatch, mlpipe, other, "pull")
    _in(monkeypatch, mlpipe, other, "push")
    _in(monkeypatch, mlpipe, one, "pull")
    versions, aliases, history = _state(a)
    assert (versions, aliases, history) == _state(b)
    digests = [digest for _, digest in versions]
    registry = Registry(a / ".mlpipe")
    assert [v.version for v in registry.list()] == [1, 2, 3, 4]  # the shared bytes once
    assert len(set(digests)) == 4
    assert aliases == {"champion": 3}  # b's promotion was the later move
    assert history == [(1, False), (2, False), (3, False)]  # every move kept
    shown = _in(monkeypatch, mlpipe, b, "models", "show", "m@champion", "--json")
    assert '"version": 3' in shown


def test_a_rollback_travels_and_a_damaged_record_is_refused(
        clones: tuple[Path, Path, Path], mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    a, b, models = clones
    _register(monkeypatch, mlpipe, a, _model(models, 1), "champion")
    time.sleep(1.1)
    _register(monkeypatch, mlpipe, a, _model(models, 2), "champion")
    _in(monkeypatch, mlpipe, a, "models", "rollback", "m", "champion")
    _in(monkeypatch, mlpipe, a, "push")
    _in(monkeypatch, mlpipe, b, "pull")
    assert Registry(b / ".mlpipe").aliases("m") == {"champion": 1}
    assert _state(b) == _state(a)
    record = sorted((tmp_path / "remote" / "registry").iterdir())[0]
    record.write_text('{"format": 1}')
    (b / ".mlpipe" / "registry.db").unlink()
    monkeypatch.chdir(b)
    refused = mlpipe("pull")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        f"mlpipe: error: remote '{tmp_path / 'remote'}': registry record {record.stem}: content "
        "does not match its hash (corrupt or truncated); nothing was merged"]
    assert Registry(b / ".mlpipe").list() == []


def test_labels_and_rollbacks_follow_their_versions_when_a_pull_renumbers(
        clones: tuple[Path, Path, Path], mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, models = clones
    _register(monkeypatch, mlpipe, b, _model(models, 1), "champion")  # registered first
    _in(monkeypatch, mlpipe, b, "push")
    time.sleep(1.1)  # registration times are kept to the second
    _register(monkeypatch, mlpipe, a, _model(models, 2), "champion")
    time.sleep(1.1)
    _register(monkeypatch, mlpipe, a, _model(models, 3), "champion")
    _in(monkeypatch, mlpipe, a, "models", "tag", "m:1", "owner=ana")
    _in(monkeypatch, mlpipe, a, "models", "rollback", "m", "champion")  # back to a's m:1
    tagged = Registry(a / ".mlpipe").get("m:1").digest
    _in(monkeypatch, mlpipe, a, "pull")  # b's earlier version becomes m:1: a's move to m:2..3
    registry = Registry(a / ".mlpipe")
    moved = next(v for v in registry.list() if v.digest == tagged)
    assert moved.version == 2
    found = _in(monkeypatch, mlpipe, a, "models", "search", "--tag", "owner=ana")
    assert found.startswith("m:2 ") and "m:1 " not in found
    history = _in(monkeypatch, mlpipe, a, "models", "history", "m@champion")
    assert "m@champion -> 2 (rolled back from 3)" in history, history
