"""What must run, and why: a pure function of the graph, the lock file and observed hashes.

    raw.csv ──> featurize ──> features.csv ──> train ──> model.pkl

`decide` looks at one stage: checks run cheapest-first (frozen, always_run, force, never
ran, definition, params, deps, then outputs), and every "must run" carries reasons a user
can read. `plan` walks the graph in order and predicts what each stage will leave behind,
so a stage after one that will run is reported as waiting on it. The executor calls `decide`
again with fresh hashes right before each stage, which gives early cut-off: when a re-run
stage writes the same bytes as before, the stages after it are up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from mlpipe.core.fingerprint import stage_key, template_hash
from mlpipe.spec.model import StageSpec
from mlpipe.state.hashing import dir_hash, is_dir_hash
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.runcache import RunEntry, can_cache


class Action(Enum):
    """What to do with a stage."""

    RUN = "run"
    UP_TO_DATE = "up_to_date"
    RESTORE = "restore"


@dataclass(frozen=True)
class Pending:
    """A dep whose content is not known yet: the upstream stage that writes it will run."""

    stage: str


Observed = str | None | Pending


@dataclass(frozen=True)
class StageFacts:
    """What was observed about a stage, in values.

    Attributes:
        definition: Template hash of the stage now (fingerprint.template_hash).
        key: The stage key now; None while a dep is missing or pending.
        deps: Dep path -> hash, None (missing) or Pending.
        outs: Out path -> hash, or None (missing).
        run_hit: The run-cache entry for `key`, when its objects are all in the store (looked
            up only when `key` is not the lock file's).
        lock_outs_stored: Whether the store holds the outs the lock file records (looked up
            only when the key is current and the files on disk differ from them).
    """

    definition: str
    key: str | None
    deps: Mapping[str, Observed]
    outs: Mapping[str, str | None]
    run_hit: RunEntry | None = None
    lock_outs_stored: bool = False


@dataclass(frozen=True)
class Decision:
    """The verdict on one stage.

    Attributes:
        stage: Stage name.
        action: RUN, UP_TO_DATE or RESTORE.
        reasons: Why, in words for a user (empty when up to date).
        key: The stage key, when known.
        restore: For RESTORE: out path -> hash to bring back.
        restore_commit: For RESTORE: the commit those outputs were produced at.
    """

    stage: str
    action: Action
    reasons: tuple[str, ...] = ()
    key: str | None = None
    restore: Mapping[str, str] = field(default_factory=dict)
    restore_commit: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Plan:
    """Decisions for the selected stages, in run order."""

    decisions: tuple[Decision, ...]

    def __iter__(self):
        return iter(self.decisions)

    @property
    def stale(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action is not Action.UP_TO_DATE)


def gather_facts(stage: StageSpec, deps: Mapping[str, Observed], outs: Mapping[str, str | None],
                 versions: Mapping[str, str], lock: LockEntry | None,
                 run_hit: Callable[[str], RunEntry | None],
                 stored: Callable[[Mapping[str, str]], bool]) -> StageFacts:
    """Combine observed hashes with the key and the cache lookups `decide` will need.

    A stage whose key is the one the lock file records needs no run-cache lookup, and its
    recorded outputs are looked up in the store only when the files differ from them; so a
    no-op status reads nothing but the hashes.
    """
    known = {d: value for d in stage.deps if isinstance(value := deps.get(d), str)}
    key = stage_key(stage, versions, known) if len(known) == len(stage.deps) else None
    current = lock is not None and key is not None and key == lock.key
    hit = run_hit(key) if key is not None and not current and can_cache(stage) else None
    stored_ok = bool(current and lock and lock.outs and dict(outs) != dict(lock.outs)
                     and stored(lock.outs))
    return StageFacts(definition=template_hash(stage), key=key, deps=deps, outs=outs,
                      run_hit=hit, lock_outs_stored=stored_ok)


def _show(value: Any) -> str:
    return "(unset)" if value is _ABSENT else repr(value) if isinstance(value, str) else str(value)


_ABSENT = object()


def stale_reasons(stage: StageSpec, facts: StageFacts, lock: LockEntry | None) -> list[str]:
    """Why a stage's recorded result no longer matches its inputs ([] when it does)."""
    if lock is None:
        return ["never ran"]
    if facts.key is not None and facts.key == lock.key:
        return []
    reasons: list[str] = []
    if lock.kind != stage.kind:
        reasons.append(f"kind changed {lock.kind} -> {stage.kind}")
    elif lock.definition != facts.definition:
        reasons.append("command changed" if stage.kind == "command" else "definition changed")
    for key in sorted({*lock.params, *stage.params}):
        old, new = lock.params.get(key, _ABSENT), stage.params.get(key, _ABSENT)
        if old != new:
            reasons.append(f"param {key} {_show(old)} -> {_show(new)}")
    for path in stage.deps:
        now = facts.deps.get(path)
        if isinstance(now, Pending):
            reasons.append(f"upstream '{now.stage}' will run")
        elif now is None:
            reasons.append(f"dep {path} missing")
        elif path not in lock.deps:
            reasons.append(f"dep {path} added")
        elif lock.deps[path] != now:
            reasons.append(f"dep {path} changed")
    reasons.extend(f"dep {path} removed" for path in lock.deps if path not in stage.deps)
    if not reasons and facts.key != lock.key:
        reasons.append("kind version changed")
    return list(dict.fromkeys(reasons))


def out_problems(facts: StageFacts, lock: LockEntry) -> list[str]:
    """Outputs that are missing or differ from what the lock file records."""
    problems = []
    for path, recorded in lock.outs.items():
        now = facts.outs.get(path)
        if now is None:
            problems.append(f"out {path} missing")
        elif now != recorded:
            problems.append(f"out {path} modified")
    return problems


def decide(stage: StageSpec, facts: StageFacts, lock: LockEntry | None,
           force: bool = False) -> Decision:
    """The decision for one stage given what was observed about it."""
    name, key = stage.name, facts.key
    if stage.frozen:
        return Decision(name, Action.UP_TO_DATE, ("frozen",), key)
    if stage.always_run:
        return Decision(name, Action.RUN, ("always_run",), key)
    if force:
        return Decision(name, Action.RUN, ("forced",), key)
    reasons = stale_reasons(stage, facts, lock)
    if reasons:
        if facts.run_hit is not None:
            return Decision(name, Action.RESTORE, (*reasons, "seen before: restore from cache"),
                            key, facts.run_hit.outs, facts.run_hit.commit)
        return Decision(name, Action.RUN, tuple(reasons), key)
    assert lock is not None  # no stale reasons implies a lock entry
    problems = out_problems(facts, lock)
    if not problems:
        return Decision(name, Action.UP_TO_DATE, (), key)
    if facts.lock_outs_stored:
        return Decision(name, Action.RESTORE, (*problems, "restore from cache"), key,
                        lock.outs, lock.commit)
    return Decision(name, Action.RUN, tuple(problems), key)


@dataclass(frozen=True)
class PlanInputs:
    """Everything `plan` needs, as values and lookups.

    Attributes:
        order: Selected stages in run order.
        writers: Path -> names of the selected stages that write it (or above/below it).
        disk: Path -> hash now on disk (None when missing), for every dep and out.
        versions: Kind name -> versions that go into keys.
        lock: Stage name -> lock entry.
        run_hit: Stage key -> run-cache entry whose objects are stored.
        stored: Whether the store holds all of these outputs.
        force: Run every selected stage.
        listing: A directory's hash -> its files (relative path, hash), or None when the
            store cannot tell; how a dep inside an upstream directory that will be restored
            is known before the directory is back.
    """

    order: Sequence[StageSpec]
    writers: Callable[[str], set[str]]
    disk: Mapping[str, str | None]
    versions: Mapping[str, Mapping[str, str]]
    lock: Mapping[str, LockEntry]
    run_hit: Callable[[str], RunEntry | None]
    stored: Callable[[Mapping[str, str]], bool]
    force: bool = False
    listing: Callable[[str], Sequence[tuple[str, str]] | None] = lambda _digest: None


def plan(inputs: PlanInputs) -> Plan:
    """Decide every selected stage, predicting what upstream stages will leave behind."""
    selected = {stage.name for stage in inputs.order}
    predicted: dict[str, Mapping[str, str | None] | Pending] = {}
    decisions: list[Decision] = []
    for stage in inputs.order:
        deps = {dep: _predict(dep, inputs, selected, predicted) for dep in stage.deps}
        outs = {out: inputs.disk.get(out) for out in stage.outs}
        lock = inputs.lock.get(stage.name)
        facts = gather_facts(stage, deps, outs, inputs.versions[stage.kind], lock,
                             inputs.run_hit, inputs.stored)
        decision = decide(stage, facts, lock, inputs.force)
        decisions.append(decision)
        if decision.action is Action.RUN:
            predicted[stage.name] = Pending(stage.name)
        elif decision.action is Action.RESTORE:
            predicted[stage.name] = dict(decision.restore)
        else:
            predicted[stage.name] = outs
    return Plan(tuple(decisions))


def _predict(dep: str, inputs: PlanInputs, selected: set[str],
             predicted: Mapping[str, Mapping[str, str | None] | Pending]) -> Observed:
    for writer in sorted(inputs.writers(dep) & selected):
        outs = predicted.get(writer)
        if isinstance(outs, Pending):
            return outs
        if outs is not None and dep in outs:
            return outs[dep]
        if outs is not None and outs != {o: inputs.disk.get(o) for o in outs}:
            inner = _inside(dep, outs, inputs.listing)
            return Pending(writer) if isinstance(inner, _Unknown) else inner
    return inputs.disk.get(dep)


class _Unknown:
    """What `_inside` gives when an upstream directory's files cannot be known."""


def _inside(dep: str, outs: Mapping[str, str | None],
            listing: Callable[[str], Sequence[tuple[str, str]] | None]) -> str | _Unknown | None:
    """The hash `dep` will have once these outputs are in place, read from the listing of
    the directory output it lies in: a file's hash, a sub-directory's hash, or None when the
    directory will not hold it."""
    for out, digest in outs.items():
        if digest is None or not is_dir_hash(digest) or not dep.startswith(out + "/"):
            continue
        files = listing(digest)
        if files is None:
            return _Unknown()
        rel = dep[len(out) + 1:]
        found = dict(files)
        if rel in found:
            return found[rel]
        prefix = rel + "/"
        below = [(path[len(prefix):], d) for path, d in files if path.startswith(prefix)]
        return dir_hash(below) if below else None
    return _Unknown()
