"""planner: `decide` on one stage and `plan` over a chain, on toy values (no files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from mlpipe.core.fingerprint import stage_key, template_hash
from mlpipe.core.planner import (
    Action,
    Decision,
    Observed,
    Pending,
    PlanInputs,
    StageFacts,
    decide,
    gather_facts,
    plan,
)
from mlpipe.spec.model import StageSpec
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.runcache import RunEntry

VERSIONS = {"kind": "command/1"}
RAW_CMD = "featurize --window ${params.featurize.window}"


def make_stage(name: str = "featurize", deps: Sequence[str] = ("featurize.py", "raw.csv"),
               outs: Sequence[str] = ("features.csv",), window: Any = 3,
               raw_cmd: str = RAW_CMD, **changes: Any) -> StageSpec:
    cmd = raw_cmd.replace("${params.featurize.window}", str(window))
    return StageSpec(
        name=name, kind="command", config={"cmd": cmd}, deps=tuple(deps), outs=tuple(outs),
        params={"featurize.window": window},
        raw={"kind": "command", "cmd": raw_cmd, "deps": list(deps), "outs": list(outs)},
        **changes)


DEPS = {"featurize.py": "h-code", "raw.csv": "h-raw"}
OUTS = {"features.csv": "h-feat"}


def locked(stage: StageSpec, deps: Mapping[str, str] = DEPS, outs: Mapping[str, str] = OUTS,
           versions: Mapping[str, str] = VERSIONS, commit: str = "c0ffee") -> LockEntry:
    return LockEntry(kind=stage.kind, key=stage_key(stage, versions, deps),
                     definition=template_hash(stage), cmd=str(stage.config.get("cmd")),
                     params=dict(stage.params), deps=dict(deps), outs=dict(outs), commit=commit)


def observe(stage: StageSpec, deps: Mapping[str, Observed] = DEPS,
            outs: Mapping[str, str | None] = OUTS, lock: LockEntry | None = None,
            hit: RunEntry | None = None, stored: bool = False,
            versions: Mapping[str, str] = VERSIONS) -> StageFacts:
    return gather_facts(stage, deps, outs, versions, lock, lambda key: hit,
                        lambda outs: stored)


def decide_now(stage: StageSpec, lock: LockEntry | None, force: bool = False,
               **observed: Any) -> Decision:
    return decide(stage, observe(stage, lock=lock, **observed), lock, force)


class TestDecide:
    def test_never_ran(self) -> None:
        stage = make_stage()
        decision = decide_now(stage, None)
        assert (decision.action, decision.reasons) == (Action.RUN, ("never ran",))
        assert decision.key == stage_key(stage, VERSIONS, DEPS)

    def test_up_to_date(self) -> None:
        stage = make_stage()
        decision = decide_now(stage, locked(stage))
        assert (decision.action, decision.reasons, decision.reason) == (
            Action.UP_TO_DATE, (), "")
        assert decision.key == locked(stage).key

    def test_param_change_names_key_and_values(self) -> None:
        decision = decide_now(make_stage(window=5), locked(make_stage(window=3)))
        assert decision.action is Action.RUN
        assert decision.reasons == ("param featurize.window 3 -> 5",)

    @pytest.mark.parametrize(("old", "new", "reason"), [
        pytest.param({"model.kind": "ridge"}, {"model.kind": "lasso"},
                     "param model.kind 'ridge' -> 'lasso'", id="string-quoted"),
        pytest.param({}, {"seed": 1}, "param seed (unset) -> 1", id="added"),
        pytest.param({"seed": 1}, {}, "param seed 1 -> (unset)", id="removed"),
        pytest.param({"lr": 0.1}, {"lr": 0.01}, "param lr 0.1 -> 0.01", id="float"),
    ])
    def test_param_reasons(self, old: dict[str, Any], new: dict[str, Any], reason: str) -> None:
        before = replace(make_stage(), params=old)
        after = replace(make_stage(), params=new)
        assert decide_now(after, locked(before)).reasons == (reason,)

    def test_edited_command(self) -> None:
        decision = decide_now(make_stage(raw_cmd=RAW_CMD + " --fast"), locked(make_stage()))
        assert decision.reasons == ("command changed",)

    def test_edited_definition_of_another_kind(self) -> None:
        before = replace(make_stage(), kind="train", raw={"kind": "train", "alpha": 1})
        after = replace(before, config={"alpha": 2}, raw={"kind": "train", "alpha": 2})
        assert decide_now(after, locked(before)).reasons == ("definition changed",)

    def test_changed_kind(self) -> None:
        before = replace(make_stage(), kind="shell")
        reasons = decide_now(make_stage(), locked(before)).reasons
        assert reasons == ("kind changed shell -> command",)

    @pytest.mark.parametrize(("deps_now", "reason"), [
        pytest.param({**DEPS, "raw.csv": "h-raw-2"}, "dep raw.csv changed", id="changed"),
        pytest.param({**DEPS, "raw.csv": None}, "dep raw.csv missing", id="missing"),
    ])
    def test_dep_content(self, deps_now: dict[str, str | None], reason: str) -> None:
        stage = make_stage()
        assert decide_now(stage, locked(stage), deps=deps_now).reasons == (reason,)

    def test_dep_added(self) -> None:
        before = make_stage()
        # Same template: only the dep set differs.
        after = replace(make_stage(deps=("featurize.py", "raw.csv", "extra.csv")),
                        raw=before.raw)
        decision = decide_now(after, locked(before), deps={**DEPS, "extra.csv": "h-x"})
        assert decision.reasons == ("dep extra.csv added",)

    def test_dep_removed(self) -> None:
        before = make_stage()
        after = replace(make_stage(deps=("featurize.py",)), raw=before.raw)
        decision = decide_now(after, locked(before), deps={"featurize.py": "h-code"})
        assert decision.reasons == ("dep raw.csv removed",)

    def test_kind_version_changed(self) -> None:
        stage = make_stage()
        decision = decide_now(stage, locked(stage, versions={"kind": "command/0"}))
        assert (decision.action, decision.reasons) == (Action.RUN, ("kind version changed",))

    def test_several_reasons_in_order(self) -> None:
        decision = decide_now(make_stage(window=5), locked(make_stage()),
                              deps={**DEPS, "raw.csv": "h-raw-2"})
        assert decision.reason == "param featurize.window 3 -> 5; dep raw.csv changed"

    @pytest.mark.parametrize(("outs_now", "problem"), [
        pytest.param({"features.csv": None}, "out features.csv missing", id="missing"),
        pytest.param({"features.csv": "h-edited"}, "out features.csv modified", id="modified"),
    ])
    def test_bad_out_runs_when_not_stored(self, outs_now: dict[str, str | None],
                                          problem: str) -> None:
        stage = make_stage()
        decision = decide_now(stage, locked(stage), outs=outs_now, stored=False)
        assert (decision.action, decision.reasons) == (Action.RUN, (problem,))
        assert decision.restore == {}

    @pytest.mark.parametrize("outs_now", [{"features.csv": None}, {"features.csv": "h-edited"}])
    def test_bad_out_is_restored_when_stored(self, outs_now: dict[str, str | None]) -> None:
        stage = make_stage()
        decision = decide_now(stage, locked(stage, commit="abc123"), outs=outs_now, stored=True)
        assert decision.action is Action.RESTORE
        assert decision.reasons[-1] == "restore from cache"
        assert decision.restore == OUTS
        assert decision.restore_commit == "abc123"

    def test_run_cache_hit_restores_the_hits_outputs(self) -> None:
        before, after = make_stage(window=3), make_stage(window=5)
        hit = RunEntry(outs={"features.csv": "h-feat-5"}, commit="old-commit")
        decision = decide_now(after, locked(before), hit=hit)
        assert decision.action is Action.RESTORE
        assert decision.reasons == ("param featurize.window 3 -> 5",
                                    "seen before: restore from cache")
        assert decision.restore == {"features.csv": "h-feat-5"}
        assert decision.restore_commit == "old-commit"
        assert decision.key == stage_key(after, VERSIONS, DEPS)

    def test_run_cache_hit_for_a_stage_that_never_ran(self) -> None:
        hit = RunEntry(outs={"features.csv": "h-feat"}, commit=None)
        decision = decide_now(make_stage(), None, hit=hit)
        assert decision.action is Action.RESTORE
        assert decision.reasons == ("never ran", "seen before: restore from cache")

    def test_frozen_wins_over_staleness(self) -> None:
        frozen = make_stage(window=5, frozen=True)
        decision = decide_now(frozen, locked(make_stage(window=3)), force=True)
        assert (decision.action, decision.reasons) == (Action.UP_TO_DATE, ("frozen",))

    def test_always_run_runs_an_up_to_date_stage(self) -> None:
        stage = make_stage(always_run=True)
        decision = decide_now(stage, locked(stage))
        assert (decision.action, decision.reasons) == (Action.RUN, ("always_run",))

    def test_force_runs_an_up_to_date_stage(self) -> None:
        stage = make_stage()
        decision = decide_now(stage, locked(stage), force=True)
        assert (decision.action, decision.reasons) == (Action.RUN, ("forced",))

    def test_pending_upstream(self) -> None:
        stage = make_stage()
        decision = decide_now(stage, locked(stage),
                              deps={**DEPS, "raw.csv": Pending("download")})
        assert decision.action is Action.RUN
        assert decision.reasons == ("upstream 'download' will run",)
        assert decision.key is None


class TestGatherFacts:
    def test_no_key_and_no_run_cache_lookup_while_a_dep_is_unknown(self) -> None:
        asked: list[str] = []

        def run_hit(key: str) -> RunEntry | None:
            asked.append(key)
            return None

        stage = make_stage()
        for unknown in (None, Pending("x")):
            facts = gather_facts(stage, {**DEPS, "raw.csv": unknown}, OUTS, VERSIONS, None,
                                 run_hit, lambda outs: True)
            assert facts.key is None
        assert asked == []
        facts = gather_facts(stage, DEPS, OUTS, VERSIONS, None, run_hit, lambda outs: True)
        assert asked == [facts.key] == [stage_key(stage, VERSIONS, DEPS)]

    @pytest.mark.parametrize("stage", [
        pytest.param(make_stage(always_run=True), id="always_run"),
        pytest.param(make_stage(outs=()), id="no-outs"),
    ])
    def test_uncacheable_stage_never_asks_the_run_cache(self, stage: StageSpec) -> None:
        def run_hit(key: str) -> RunEntry | None:
            raise AssertionError("run cache consulted")

        facts = gather_facts(stage, DEPS, {}, VERSIONS, None, run_hit, lambda outs: True)
        assert facts.run_hit is None and facts.key is not None

    def test_lock_outs_stored_asks_the_store_about_the_lock_outs(self) -> None:
        stage = make_stage()
        seen: list[Mapping[str, str]] = []

        def stored(outs: Mapping[str, str]) -> bool:
            seen.append(dict(outs))
            return True

        facts = gather_facts(stage, DEPS, OUTS, VERSIONS, locked(stage, outs={"f": "h-f"}),
                             lambda key: None, stored)
        assert facts.lock_outs_stored is True and seen == [{"f": "h-f"}]
        empty = gather_facts(stage, DEPS, OUTS, VERSIONS, locked(stage, outs={}),
                             lambda key: None, stored)
        assert empty.lock_outs_stored is False and len(seen) == 1


    def test_a_current_stage_with_its_recorded_outputs_looks_nothing_up(self) -> None:
        def never(_: object) -> None:
            raise AssertionError("a cache was consulted for a stage that is up to date")

        stage = make_stage()
        facts = gather_facts(stage, DEPS, OUTS, VERSIONS, locked(stage), never, never)
        assert decide(stage, facts, locked(stage)).action is Action.UP_TO_DATE

    def test_a_stale_stage_asks_the_run_cache_and_not_the_store(self) -> None:
        asked: list[str] = []

        def run_hit(key: str) -> RunEntry | None:
            asked.append(key)
            return None

        def never(_: object) -> None:
            raise AssertionError("the store was asked about outputs that cannot be restored")

        stage = make_stage()
        facts = gather_facts(stage, {**DEPS, "raw.csv": "h-new"}, OUTS, VERSIONS, locked(stage),
                             run_hit, never)
        assert asked == [facts.key] and facts.key != locked(stage).key

# raw.csv -> prepare -> clean.csv -> featurize -> features.csv -> train -> model.pkl
PREPARE = StageSpec(name="prepare", kind="command", config={"cmd": "prepare"},
                    deps=("raw.csv",), outs=("clean.csv",), raw={"cmd": "prepare"})
FEATURIZE = StageSpec(name="featurize", kind="command", config={"cmd": "featurize"},
                      deps=("clean.csv",), outs=("features.csv",), raw={"cmd": "featurize"})
TRAIN = StageSpec(name="train", kind="command", config={"cmd": "train"},
                  deps=("features.csv",), outs=("model.pkl",), raw={"cmd": "train"})
CHAIN = (PREPARE, FEATURIZE, TRAIN)
DISK = {"raw.csv": "h-raw", "clean.csv": "h-clean", "features.csv": "h-feat",
        "model.pkl": "h-model"}


def chain_lock(disk: Mapping[str, str | None] = DISK) -> dict[str, LockEntry]:
    lock = {}
    for stage in CHAIN:
        deps = {d: disk[d] for d in stage.deps}
        outs = {o: disk[o] for o in stage.outs}
        lock[stage.name] = locked(stage, deps=deps, outs=outs)  # type: ignore[arg-type]
    return lock


def writers(path: str) -> set[str]:
    return {stage.name for stage in CHAIN if path in stage.outs}


def plan_chain(disk: Mapping[str, str | None], lock: Mapping[str, LockEntry],
               hits: Mapping[str, RunEntry] | None = None,
               order: Sequence[StageSpec] = CHAIN, force: bool = False,
               stored: bool = False) -> list[tuple[str, Action, tuple[str, ...]]]:
    inputs = PlanInputs(order=order, writers=writers, disk=disk,
                        versions={"command": VERSIONS}, lock=lock,
                        run_hit=lambda key: (hits or {}).get(key),
                        stored=lambda outs: stored, force=force)
    return [(d.stage, d.action, d.reasons) for d in plan(inputs)]


class TestPlan:
    def test_unchanged_chain_is_up_to_date(self) -> None:
        assert plan_chain(DISK, chain_lock()) == [
            ("prepare", Action.UP_TO_DATE, ()),
            ("featurize", Action.UP_TO_DATE, ()),
            ("train", Action.UP_TO_DATE, ()),
        ]

    def test_a_changed_first_stage_makes_the_rest_wait_on_it(self) -> None:
        result = plan_chain({**DISK, "raw.csv": "h-raw-2"}, chain_lock())
        assert result == [
            ("prepare", Action.RUN, ("dep raw.csv changed",)),
            ("featurize", Action.RUN, ("upstream 'prepare' will run",)),
            ("train", Action.RUN, ("upstream 'featurize' will run",)),
        ]

    def test_nothing_locked_is_never_ran_everywhere(self) -> None:
        disk = {**dict.fromkeys(DISK), "raw.csv": "h-raw"}
        assert plan_chain(disk, {}) == [
            ("prepare", Action.RUN, ("never ran",)),
            ("featurize", Action.RUN, ("never ran",)),
            ("train", Action.RUN, ("never ran",)),
        ]

    def test_a_middle_change_leaves_the_first_stage_alone(self) -> None:
        lock = chain_lock()
        lock["featurize"] = replace(lock["featurize"], key="old-key",
                                    deps={"clean.csv": "h-clean-old"})
        assert plan_chain(DISK, lock) == [
            ("prepare", Action.UP_TO_DATE, ()),
            ("featurize", Action.RUN, ("dep clean.csv changed",)),
            ("train", Action.RUN, ("upstream 'featurize' will run",)),
        ]

    def test_restore_predicts_the_restored_hash_downstream(self) -> None:
        # raw.csv went back to a version seen before; prepare's output then is the locked one.
        disk = {**DISK, "raw.csv": "h-raw-old", "clean.csv": "h-clean-now"}
        new_key = stage_key(PREPARE, VERSIONS, {"raw.csv": "h-raw-old"})
        hits = {new_key: RunEntry(outs={"clean.csv": "h-clean"}, commit="c1")}
        result = plan_chain(disk, chain_lock(), hits=hits)
        assert result[0] == ("prepare", Action.RESTORE,
                             ("dep raw.csv changed", "seen before: restore from cache"))
        assert result[1:] == [("featurize", Action.UP_TO_DATE, ()),
                              ("train", Action.UP_TO_DATE, ())]

    def test_an_unselected_writer_is_judged_by_the_disk(self) -> None:
        disk = {**DISK, "raw.csv": "h-raw-2"}
        assert plan_chain(disk, chain_lock(), order=(FEATURIZE, TRAIN)) == [
            ("featurize", Action.UP_TO_DATE, ()), ("train", Action.UP_TO_DATE, ())]

    def test_missing_output_restored_from_store_keeps_downstream_up_to_date(self) -> None:
        disk = {**DISK, "clean.csv": None}
        result = plan_chain(disk, chain_lock(), stored=True)
        assert result[0][:2] == ("prepare", Action.RESTORE)
        assert result[1:] == [("featurize", Action.UP_TO_DATE, ()),
                              ("train", Action.UP_TO_DATE, ())]

    def test_force_runs_all(self) -> None:
        result = plan_chain(DISK, chain_lock(), force=True)
        assert [(n, a, r) for n, a, r in result] == [
            (stage.name, Action.RUN, ("forced",)) for stage in CHAIN]

    def test_stale_lists_what_is_not_up_to_date(self) -> None:
        disk = {**DISK, "model.pkl": None}
        inputs = PlanInputs(order=CHAIN, writers=writers, disk=disk,
                            versions={"command": VERSIONS}, lock=chain_lock(),
                            run_hit=lambda key: None, stored=lambda outs: False)
        result = plan(inputs)
        assert [d.stage for d in result.stale] == ["train"]
        assert result.stale[0].reasons == ("out model.pkl missing",)


# raw.csv -> split -> parts/ (a.csv, sub/b.csv) -> use (deps parts/a.csv, parts/sub)
SPLIT = StageSpec(name="split", kind="command", config={"cmd": "split"}, deps=("raw.csv",),
                  outs=("parts",), raw={"cmd": "split"})
USE = StageSpec(name="use", kind="command", config={"cmd": "use"},
                deps=("parts/a.csv", "parts/sub"), outs=("used.txt",), raw={"cmd": "use"})
OLD_FILES = [("a.csv", "h-a-old"), ("sub/b.csv", "h-b-old")]


class TestInsideARestoredDirectory:
    def plan(self, listing: Mapping[str, list[tuple[str, str]]]) -> list[tuple[str, Action]]:
        from mlpipe.state.hashing import dir_hash

        old_dir = dir_hash(OLD_FILES)
        disk = {"raw.csv": "h-raw-old", "parts": "h-parts-now.dir", "parts/a.csv": "h-a-now",
                "parts/sub": "h-sub-now.dir", "used.txt": "h-used"}
        lock = {"split": locked(SPLIT, deps={"raw.csv": "h-raw-now"},
                                outs={"parts": "h-parts-now.dir"}),
                "use": locked(USE, deps={"parts/a.csv": "h-a-old",
                                         "parts/sub": dir_hash([("b.csv", "h-b-old")])},
                              outs={"used.txt": "h-used"})}
        hits = {stage_key(SPLIT, VERSIONS, {"raw.csv": "h-raw-old"}):
                RunEntry(outs={"parts": old_dir}, commit="c1")}
        inputs = PlanInputs(order=(SPLIT, USE),
                            writers=lambda p: {"split"} if p.startswith("parts") else set(),
                            disk=disk, versions={"command": VERSIONS}, lock=lock,
                            run_hit=lambda key: hits.get(key), stored=lambda outs: True,
                            listing=lambda digest: listing.get(digest.replace(old_dir, "old")))
        return [(d.stage, d.action) for d in plan(inputs)]

    def test_files_and_subdirectories_are_read_from_the_manifest(self) -> None:
        assert self.plan({"old": OLD_FILES}) == [("split", Action.RESTORE),
                                                  ("use", Action.UP_TO_DATE)]

    def test_an_unreadable_manifest_keeps_the_dep_pending(self) -> None:
        assert self.plan({}) == [("split", Action.RESTORE), ("use", Action.RUN)]
