"""lockgate: the committed lock against the pipeline, on toy values (no files, no outputs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from mlpipe.core.fingerprint import stage_key, template_hash
from mlpipe.core.lockgate import GateInputs, Mismatch, check, source_deps
from mlpipe.core.planner import MERGE_REASON
from mlpipe.spec.model import StageSpec
from mlpipe.state.lockfile import LockEntry

VERSIONS = {"command": {"kind": "command/1"}}


def stage(name: str, deps: tuple[str, ...], outs: tuple[str, ...], **changes: object
          ) -> StageSpec:
    return StageSpec(name=name, kind="command", config={"cmd": f"make {name}"}, deps=deps,
                     outs=outs, raw={"kind": "command", "cmd": f"make {name}"},
                     **changes)  # type: ignore[arg-type]


def entry(spec: StageSpec, deps: Mapping[str, str], outs: Mapping[str, str]) -> LockEntry:
    return LockEntry(kind="command", key=stage_key(spec, VERSIONS["command"], deps),
                     definition=template_hash(spec), deps=dict(deps), outs=dict(outs))


PREP = stage("prep", ("raw.csv",), ("data",))
TRAIN = stage("train", ("data/part.csv", "model.py"), ("model.pkl",))
SCORE = stage("score", ("model.pkl",), ("score.txt",))
ORDER = (PREP, TRAIN, SCORE)
WRITERS = {"data": {"prep"}, "data/part.csv": {"prep"}, "model.pkl": {"train"},
           "score.txt": {"score"}}
LOCK = {"prep": entry(PREP, {"raw.csv": "r1"}, {"data": "d1.dir"}),
        "train": entry(TRAIN, {"data/part.csv": "p1", "model.py": "m1"}, {"model.pkl": "k1"}),
        "score": entry(SCORE, {"model.pkl": "k1"}, {"score.txt": "s1"})}
SOURCES = {"raw.csv": "r1", "model.py": "m1"}


def gate(order: tuple[StageSpec, ...] = ORDER, sources: Mapping[str, str | None] = SOURCES,
         lock: Mapping[str, LockEntry] = LOCK, unmerged: tuple[str, ...] = ()
         ) -> tuple[Mismatch, ...]:
    return check(GateInputs(order=order, writers=lambda p: WRITERS.get(p, set()),
                            sources=sources, versions=VERSIONS, lock=lock, unmerged=unmerged,
                            known=[s.name for s in order]))


def test_only_source_deps_are_hashed() -> None:
    assert source_deps(ORDER, lambda p: WRITERS.get(p, set())) == ["raw.csv", "model.py"]


def test_a_matching_lock_passes_with_no_output_known() -> None:
    assert gate() == ()


def test_a_changed_source_names_the_stage_and_those_after_it() -> None:
    found = gate(sources={**SOURCES, "model.py": "m2"})
    assert found == (Mismatch("train", ("dep model.py changed",)),
                     Mismatch("score", ("upstream 'train' does not match",)))


def test_a_producer_recording_other_outputs_breaks_the_consumer() -> None:
    lock = {**LOCK, "train": replace(LOCK["train"], outs={"model.pkl": "k2"})}
    assert gate(lock=lock) == (Mismatch("score", ("dep model.pkl changed",)),)


def test_always_run_and_frozen_stages_are_left_out() -> None:
    order = (PREP, replace(TRAIN, always_run=True), SCORE)
    lock = {**LOCK, "train": replace(LOCK["train"], outs={"model.pkl": "k-other-run"})}
    # an always_run producer: its consumer is judged by what its own entry records
    assert gate(order=order, sources={**SOURCES, "model.py": "m2"}, lock=lock) == ()
    assert gate(order=(PREP, replace(TRAIN, frozen=True), SCORE),
                sources={**SOURCES, "model.py": "m2"}) == ()


def test_missing_entries_say_why() -> None:
    lock = {name: e for name, e in LOCK.items() if name != "score"}
    assert gate(lock=lock) == (Mismatch("score", ("not in the lock file",)),)
    assert gate(lock=lock, unmerged=("score",)) == (Mismatch("score", (MERGE_REASON,)),)
    extra = {**LOCK, "old": LOCK["score"]}
    assert gate(lock=extra) == (Mismatch("old", ("in the lock file but not in the pipeline",)),)
