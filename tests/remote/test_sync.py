"""Push and pull of what a lock file needs, the run-cache lookup of `run --pull`, and the
session hook it plugs into."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tree

from mlpipe.errors import RemoteError
from mlpipe.execute.session import Session
from mlpipe.remote.cache import RemoteStore
from mlpipe.remote.fs import Opened, open_remote
from mlpipe.remote.link import Local, RunLink, pull_lock, push_lock
from mlpipe.remote.sync import pull, push, wanted
from mlpipe.spec.model import StageSpec
from mlpipe.spec.parse import load
from mlpipe.state.hashing import dir_hash, hash_bytes, hash_file
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.runcache import RunCache, RunEntry
from mlpipe.state.workspace import Workspace

TRAIN = StageSpec("train", "command", outs=("model.txt", "features"))
REPORT = StageSpec("report", "command", outs=("report.txt",), always_run=True)
PUBLISH = StageSpec("publish", "command")
Made = tuple[Local, dict[str, LockEntry]]


def local_at(root: Path) -> Local:
    return Local.of(Workspace.for_file(root / "mlpipe.yaml"))


@pytest.fixture
def remote(tmp_path: Path) -> RemoteStore:
    return RemoteStore(open_remote(str(tmp_path / "remote"), {}))


@pytest.fixture
def made(tmp_path: Path) -> Made:
    """A local cache holding train's outputs (a file and a directory of two files) and a
    lock file naming them, plus report (always_run) and a stage that never ran."""
    work = tmp_path / "work"
    write_tree(work, {"model.txt": "weights\n", "features/a.csv": "a\n",
                      "features/sub/b.csv": "b\n", "report.txt": "ok\n"})
    local = local_at(tmp_path / "a")
    files = [("a.csv", hash_file(work / "features/a.csv")),
             ("sub/b.csv", hash_file(work / "features/sub/b.csv"))]
    features = dir_hash(files)
    local.store.put_tree(work / "features", files, features)
    model = hash_file(work / "model.txt")
    local.store.put_file(work / "model.txt", model)
    report = hash_file(work / "report.txt")
    local.store.put_file(work / "report.txt", report)
    lock = {"train": LockEntry("command", "ab" + "1" * 30, "d", outs={"model.txt": model,
                                                                       "features": features}),
            "report": LockEntry("command", "cd" + "2" * 30, "d", outs={"report.txt": report})}
    return local, lock


def test_wanted_takes_the_selected_stages_lock_entries(made: Made) -> None:
    _, lock = made
    what = wanted(lock, [TRAIN, REPORT, PUBLISH])
    assert set(what.objects.values()) == {"stage 'train' output features",
                                          "stage 'train' output model.txt",
                                          "stage 'report' output report.txt"}
    assert list(what.entries) == [lock["train"].key]  # always_run results are never reused
    assert wanted(lock, [PUBLISH]).objects == {}


@pytest.mark.parametrize("jobs", [1, 8])
def test_push_then_pull_brings_back_every_object_and_entry(made: Made, remote: RemoteStore,
                                                           tmp_path: Path, jobs: int) -> None:
    local, lock = made
    sent = push_lock(remote, local, lock, [TRAIN, REPORT], jobs)
    assert (sent.objects, sent.present, sent.entries, sent.ok) == (5, 0, 1, True)
    assert sent.bytes == sum(len(x) for x in (b"weights\n", b"a\n", b"b\n", b"ok\n")) + len(
        local.store.path_of(lock["train"].outs["features"]).read_bytes())
    b = local_at(tmp_path / "b")
    got = pull_lock(remote, b, lock, [TRAIN, REPORT], jobs)
    assert (got.objects, got.present, got.entries, got.ok) == (5, 0, 1, True)
    assert b.store.has_all(lock["train"].outs) and b.store.has_all(lock["report"].outs)
    assert b.runcache.get(lock["train"].key) == RunEntry(dict(lock["train"].outs), None)
    again = pull_lock(remote, b, lock, [TRAIN, REPORT], jobs)
    assert (again.objects, again.present, again.entries) == (0, 5, 0)
    assert push_lock(remote, local, lock, [TRAIN], jobs).present == 4


def test_an_object_missing_locally_is_named_and_its_entry_stays_home(
        made: Made, remote: RemoteStore) -> None:
    local, lock = made
    model = lock["train"].outs["model.txt"]
    local.store.path_of(model).unlink()
    sent = push(remote, local.store, wanted(lock, [TRAIN]))
    assert [(f.name, f.where) for f in sent.failures] == [(model,
                                                           "stage 'train' output model.txt")]
    assert "not in the local cache" in sent.failures[0].reason
    assert sent.entries == 0 and sent.objects == 3  # the directory went; the entry did not


def test_pull_names_what_the_remote_lacks_and_stores_no_entry_without_its_objects(
        made: Made, remote: RemoteStore, tmp_path: Path) -> None:
    local, lock = made
    push_lock(remote, local, lock, [TRAIN])
    member = hash_bytes(b"b\n")
    Path(remote.object_path(member)).unlink()
    b = local_at(tmp_path / "b")
    got = pull_lock(remote, b, lock, [TRAIN])
    assert [(f.name, f.where) for f in got.failures] == [(member,
                                                          "in stage 'train' output features")]
    assert "not on the remote" in got.failures[0].reason
    features = lock["train"].outs["features"]
    assert not b.store.path_of(features).exists()  # no manifest whose files are missing
    assert b.runcache.get(lock["train"].key) is None


def test_a_key_lookup_finds_an_entry_and_its_objects(made: Made, remote: RemoteStore,
                                                     tmp_path: Path) -> None:
    local, lock = made
    push_lock(remote, local, lock, [TRAIN])
    b = local_at(tmp_path / "b")
    warnings: list[str] = []
    link = RunLink(remote, b, warnings.append)
    assert link.fetch("ef" + "3" * 30) is False  # not on the remote: a quiet miss
    assert link.fetch(lock["train"].key) is True
    assert b.store.has_all(lock["train"].outs) and warnings == []
    assert link.fetch(lock["train"].key) is False  # asked once per key


def test_an_unreachable_remote_during_a_run_is_one_warning(made: Made, tmp_path: Path) -> None:
    local, lock = made

    class Down:
        protocol = "s3"

        def exists(self, path: str) -> bool:
            raise ConnectionError("connection refused")

    link = RunLink(RemoteStore(Opened(Down(), "b/p", "s3://b/p")), local_at(tmp_path / "b"),
                   (warnings := []).append)
    assert link.pull(lock, [TRAIN]) is None
    assert link.fetch(lock["train"].key) is False
    assert warnings == ["remote 's3://b/p': cannot be reached (ConnectionError: connection "
                        "refused); check the URL, the network and the credentials; running "
                        "without it"]
    pushed = link.push(lock, [TRAIN])
    assert not pushed.ok and "cannot be reached" in pushed.failures[0].reason
    with pytest.raises(RemoteError):
        pull(link.remote, local.store, local.runcache, {}, ["ab" * 16])


def test_the_session_asks_fetch_on_a_run_cache_miss_only(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": "stages:\n  s:\n    kind: command\n    cmd: 'true'\n"
                                         "    outs: [out.txt]\n"})
    workspace = Workspace.for_file(tmp_path / "mlpipe.yaml")
    session = Session(workspace, load(workspace.pipeline_file))
    [stage] = session.spec
    (tmp_path / "out.txt").write_text("x")
    digest = hash_file(tmp_path / "out.txt")
    asked: list[str] = []

    def fetch(key: str) -> bool:
        asked.append(key)
        session.store.put_file(tmp_path / "out.txt", digest)
        RunCache(workspace.runs_dir).put(key, RunEntry({"out.txt": digest}, None))
        return True

    try:
        assert session.run_hit("k1" * 16, stage) is None  # no fetch set: a plain miss
        session.fetch = fetch
        assert session.run_hit("k1" * 16, stage) == RunEntry({"out.txt": digest}, None)
        assert session.run_hit("k1" * 16, stage) is not None  # now local: not asked again
        assert asked == ["k1" * 16]
    finally:
        session.close()


def test_a_lock_entry_that_names_no_digest_is_a_failure_not_a_path(
        made: Made, remote: RemoteStore, tmp_path: Path) -> None:
    local, _ = made
    bad = {"evil": LockEntry("command", "ef" + "4" * 30, "d", outs={"x": "../../../escape"})}
    evil = StageSpec("evil", "command", outs=("x",))
    for result in (push_lock(remote, local, bad, [evil]),
                   pull_lock(remote, local_at(tmp_path / "b"), bad, [evil])):
        assert [(f.name, f.reason) for f in result.failures] == [
            ("../../../escape", "not an object digest; fix or regenerate the lock file")]
    assert not (tmp_path / "escape").exists() and not (tmp_path / "a" / "escape").exists()
