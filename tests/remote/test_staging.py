"""`--worker-files remote` without a cluster: the coordinator's side (RemoteStaging.ship and
land) and the worker's (Shipment.run, called directly with a scratch parent), against a remote
in a directory and, for the round trip, on the S3 server too. The shipment crosses a pickle
round trip, as it does on its way to a dask worker."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_tree

from mlpipe.execute import deadline
from mlpipe.execute.executors.staging import StagedResult
from mlpipe.execute.task import StageTask, TaskOutcome
from mlpipe.remote import scratch
from mlpipe.remote.cache import RemoteStore
from mlpipe.remote.fs import open_remote
from mlpipe.remote.link import Local
from mlpipe.remote.scratch import Shipment
from mlpipe.remote.shipping import RemoteStaging
from mlpipe.spec.model import StageSpec
from mlpipe.state.filehash import PathHasher
from mlpipe.state.hashing import hash_bytes, is_dir_hash
from mlpipe.state.hashmemo import StateCache
from mlpipe.state.workspace import Workspace

from .conftest import RemoteUnderTest, check_remote_complete

LOCK_TEXT = "# a lock file\nformat: 1\nstages: {}\n"
TREE = {
    "data.csv": "b,2\na,1\n",
    "images/cat.txt": "meow\n",
    "images/deep/dog.txt": "woof\n",
    "run.sh": "#!/bin/sh\nsort data.csv > out/sorted.csv\n",
    "mlpipe.lock": LOCK_TEXT,
}
# A stage that uses every kind of dep, reads the lock file, says where it ran, and writes a
# file and a directory.
COMMAND = ("./run.sh && mkdir -p out/listing && ls images images/deep > out/listing/names.txt"
           " && cp mlpipe.lock out/listing/lock.copy && echo \"ran in $PWD\" >&2"
           " && echo \"root $MLPIPE_ROOT\"")


@dataclass
class Coordinator:
    """A workspace, its hasher, and the staging that ships from it to `remote`."""

    root: Path
    workspace: Workspace
    hasher: PathHasher
    remote: RemoteStore
    staging: RemoteStaging

    def task(self, stage: StageSpec) -> StageTask:
        ws = self.workspace
        self.hasher.forget(stage.deps)
        return StageTask(stage, self.root, ws.logs_dir, ws.lock_file,
                         deps=self.hasher.hash(stage.deps))


def coordinator_for(tmp_path: Path, remote: RemoteUnderTest) -> Iterator[Coordinator]:
    root = tmp_path / "project"
    write_tree(root, TREE)
    (root / "run.sh").chmod(0o755)
    workspace = Workspace.for_file(root / "mlpipe.yaml")
    state = StateCache(tmp_path / "state.db")
    hasher = PathHasher(root, state)
    store = RemoteStore(open_remote(remote.url, remote.options))
    yield Coordinator(root, workspace, hasher, store,
                      RemoteStaging(store, workspace, Local.of(workspace), hasher.manifest))
    state.close()


@pytest.fixture
def coordinator(tmp_path: Path, local_remote: RemoteUnderTest) -> Iterator[Coordinator]:
    yield from coordinator_for(tmp_path, local_remote)


@pytest.fixture
def either(tmp_path: Path, remote: RemoteUnderTest) -> Iterator[Coordinator]:
    """A coordinator whose remote is a directory, then an S3 bucket."""
    yield from coordinator_for(tmp_path, remote)


def stage(cmd: str = COMMAND, deps: tuple[str, ...] = ("data.csv", "images", "run.sh"),
          outs: tuple[str, ...] = ("out/sorted.csv", "out/listing")) -> StageSpec:
    return StageSpec("fit", "command", {"cmd": cmd}, deps=deps, outs=outs)


def shipped(coordinator: Coordinator, spec: StageSpec) -> tuple[StageTask, Shipment]:
    task = coordinator.task(spec)
    shipment = coordinator.staging.ship(task)
    assert isinstance(shipment, Shipment), shipment
    return task, pickle.loads(pickle.dumps(shipment))  # as it travels to a worker


def on_worker(tmp_path: Path, task: StageTask, shipment: Shipment) -> StagedResult:
    parent = tmp_path / "worker"
    parent.mkdir(exist_ok=True)
    return shipment.run(task, deadline.execute, str(parent))


def test_a_stage_runs_in_a_scratch_directory_and_its_outputs_come_back(
        tmp_path: Path, either: Coordinator, remote: RemoteUnderTest) -> None:
    task, shipment = shipped(either, stage())
    deps = either.hasher.hash(["data.csv", "images", "run.sh"])
    assert shipment.deps == deps and shipment.executable == {"run.sh"}
    assert shipment.lock_text == LOCK_TEXT
    on_remote = remote.objects()
    assert on_remote[deps["data.csv"]] == TREE["data.csv"].encode()
    assert hash_bytes(TREE["images/deep/dog.txt"].encode()) in on_remote
    assert deps["images"] in on_remote and is_dir_hash(deps["images"])

    result = on_worker(tmp_path, task, shipment)
    assert result.outcome.ok, result
    (ran_in,) = [line.removeprefix("ran in ") for line in result.stderr.splitlines()]
    assert Path(ran_in).parent.parent == tmp_path / "worker"  # <parent>/mlpipe-fit-*/root
    assert result.stdout == f"root {ran_in}\n"
    assert list((tmp_path / "worker").iterdir()) == []  # the scratch directory is gone
    sorted_csv = b"a,1\nb,2\n"
    assert result.outs["out/sorted.csv"] == hash_bytes(sorted_csv)
    assert is_dir_hash(result.outs["out/listing"])
    check_remote_complete(remote)
    assert set(result.outs.values()) <= set(remote.objects())

    outcome = either.staging.land(task, result)
    assert outcome == result.outcome
    root = either.root
    assert (root / "out" / "sorted.csv").read_bytes() == sorted_csv
    assert (root / "out" / "listing" / "lock.copy").read_text() == LOCK_TEXT
    assert (root / "out" / "listing" / "names.txt").read_text() == (
        "images:\ncat.txt\ndeep\n\nimages/deep:\ndog.txt\n")
    either.hasher.forget(["out"])
    assert either.hasher.hash(["out/sorted.csv", "out/listing"]) == result.outs
    assert task.stderr_path.read_text() == result.stderr
    assert task.stdout_path.read_text() == result.stdout


def test_what_the_remote_holds_is_not_sent_again(coordinator: Coordinator,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    upload = RemoteStore.upload_object
    monkeypatch.setattr(RemoteStore, "upload_object",
                        lambda self, local, digest: sent.append(digest) or upload(self, local,
                                                                                   digest))
    shipped(coordinator, stage())
    deps = coordinator.hasher.hash(["data.csv", "images", "run.sh"])
    members = [hash_bytes(TREE[name].encode()) for name in ("images/cat.txt",
                                                            "images/deep/dog.txt")]
    assert sorted(sent) == sorted([*deps.values(), *members])
    assert sent.index(deps["images"]) == len(sent) - 1  # the manifest after its files
    sent.clear()
    shipped(coordinator, stage())
    assert sent == []


def test_a_dep_changed_after_it_was_hashed_is_not_sent(coordinator: Coordinator,
                                                       local_remote: RemoteUnderTest) -> None:
    task = coordinator.task(stage(deps=("data.csv",)))
    (coordinator.root / "data.csv").write_text("something else\n")
    outcome = coordinator.staging.ship(task)
    assert isinstance(outcome, TaskOutcome) and not outcome.ok and outcome.stage == "fit"
    assert outcome.error == "dep data.csv changed after it was hashed; it was not sent; run again"
    assert task.deps["data.csv"] not in local_remote.objects()


def test_a_dep_directory_changed_after_it_was_hashed_is_not_sent(
        coordinator: Coordinator, local_remote: RemoteUnderTest) -> None:
    task = coordinator.task(stage(deps=("images",)))
    (coordinator.root / "images" / "new.txt").write_text("added\n")
    outcome = coordinator.staging.ship(task)
    assert isinstance(outcome, TaskOutcome) and not outcome.ok
    assert outcome.error == "dep images changed after it was hashed; it was not sent; run again"
    assert not (Path(local_remote.root) / "objects").exists()


def test_a_dep_outside_the_root_cannot_be_shipped(coordinator: Coordinator,
                                                  tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("x\n")
    outcome = coordinator.staging.ship(coordinator.task(stage(deps=(str(outside),))))
    assert isinstance(outcome, TaskOutcome) and not outcome.ok
    assert outcome.error == (f"dep {outside} is outside the pipeline root, and --worker-files "
                             "remote ships only what is under it; move it under the root, or "
                             "use --worker-files shared")


def test_a_failing_stage_sends_back_its_logs_and_no_outputs(
        tmp_path: Path, coordinator: Coordinator, local_remote: RemoteUnderTest) -> None:
    spec = stage(cmd="echo partial > out/sorted.csv && echo working && echo 'it broke' >&2 "
                     "&& exit 3", deps=("data.csv",))
    task, shipment = shipped(coordinator, spec)
    result = on_worker(tmp_path, task, shipment)
    assert not result.outcome.ok and result.outs == {}
    assert result.outcome.error == "command exited with code 3"
    assert result.outcome.stderr_tail == "it broke"
    assert (result.stdout, result.stderr) == ("working\n", "it broke\n")
    assert hash_bytes(b"partial\n") not in local_remote.objects()
    outcome = coordinator.staging.land(task, result)
    assert outcome == result.outcome
    assert not (coordinator.root / "out" / "sorted.csv").exists()
    assert task.stderr_path.read_text() == "it broke\n"


def test_a_missing_output_fails_as_it_does_locally(tmp_path: Path,
                                                    coordinator: Coordinator) -> None:
    spec = stage(cmd="mkdir -p out/listing", deps=("data.csv",))
    task, shipment = shipped(coordinator, spec)
    result = on_worker(tmp_path, task, shipment)
    assert not result.outcome.ok and result.outs == {}
    assert result.outcome.error == "declared output out/sorted.csv was not written"
    assert list((tmp_path / "worker").iterdir()) == []


def test_a_dep_the_remote_lost_fails_the_fetch(tmp_path: Path, coordinator: Coordinator,
                                               local_remote: RemoteUnderTest) -> None:
    task, shipment = shipped(coordinator, stage(deps=("data.csv",)))
    digest = shipment.deps["data.csv"]
    (Path(local_remote.root) / "objects" / digest[:2] / digest[2:]).unlink()
    result = on_worker(tmp_path, task, shipment)
    assert not result.outcome.ok
    assert result.outcome.error.startswith(f"cannot fetch dep data.csv from remote "
                                           f"'{local_remote.url}' on ")
    assert result.outcome.error.endswith("it is not on the remote (removed meanwhile?); "
                                         "run again")


def test_a_dep_corrupted_on_the_remote_is_not_used(tmp_path: Path, coordinator: Coordinator,
                                                   local_remote: RemoteUnderTest) -> None:
    task, shipment = shipped(coordinator, stage(cmd="cat data.csv > out/sorted.csv",
                                                deps=("data.csv",)))
    digest = shipment.deps["data.csv"]
    obj = Path(local_remote.root) / "objects" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_text("tampered\n")
    result = on_worker(tmp_path, task, shipment)
    assert not result.outcome.ok and "does not match its hash" in result.outcome.error
    assert hash_bytes(b"tampered\n") not in local_remote.objects()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "undeclared"])
def test_outputs_that_cannot_be_brought_leave_nothing_in_the_workspace(
        tmp_path: Path, coordinator: Coordinator, local_remote: RemoteUnderTest,
        damage: str) -> None:
    task, shipment = shipped(coordinator, stage(cmd="sort data.csv > out/sorted.csv && "
                                                    "mkdir -p out/listing && echo x > "
                                                    "out/listing/x.txt", deps=("data.csv",)))
    result = on_worker(tmp_path, task, shipment)
    assert result.outcome.ok, result
    digest = result.outs["out/sorted.csv"]
    obj = Path(local_remote.root) / "objects" / digest[:2] / digest[2:]
    if damage == "missing":
        obj.unlink()
    elif damage == "corrupt":
        obj.chmod(0o644)
        obj.write_text("a,1\n")
    else:
        result = StagedResult(result.outcome, {**result.outs, "../escape.txt": digest})
    outcome = coordinator.staging.land(task, result)
    assert not outcome.ok and outcome.stage == "fit"
    expected = {"missing": (f"output out/sorted.csv is not on remote '{local_remote.url}', "
                            "where the worker sent it"),
                "corrupt": "does not match its hash",
                "undeclared": "not the declared"}[damage]
    assert expected in outcome.error
    root = coordinator.root
    assert not (root / "out" / "sorted.csv").exists()
    assert not (root / "out" / "listing").exists()
    assert not (tmp_path / "escape.txt").exists()
    files = {p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and ".mlpipe" not in p.parts}
    assert files == set(TREE)  # no output, and no temporary file left behind


def test_a_long_log_keeps_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "LOG_LIMIT", 10)
    log = tmp_path / "x.err"
    log.write_text("0123456789abcdefghij")
    assert scratch.log_text(log) == ("[mlpipe: the first 10 bytes of this log were not kept]\n"
                                     "abcdefghij")
    assert scratch.log_text(tmp_path / "absent.err") == ""
    log.write_text("short\n")
    assert scratch.log_text(log) == "short\n"
