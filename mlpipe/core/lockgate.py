"""Does the committed lock file match the pipeline? A pure comparison that needs no outputs.

`mlpipe status --lock` asks this of a fresh checkout, a pre-commit hook or CI: the pipeline
file, the params and the content of the source deps (files no stage writes) are compared with
what the lock file records. The outputs themselves are never looked at: a dep that another
stage writes is taken to hold what that stage's lock entry records, so a clone without the
data answers the same as the clone that ran the pipeline.

Left out on purpose: `always_run` stages (they run every time, whatever the lock says) and
`frozen` stages (they never run). A dep written by one of them, or lying inside a directory
another stage writes, is taken as the consuming stage's own entry records it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from mlpipe.core.fingerprint import stage_key, template_hash
from mlpipe.core.planner import MERGE_REASON, Observed, Pending, StageFacts, stale_reasons
from mlpipe.spec.model import StageSpec
from mlpipe.state.lockfile import LockEntry


@dataclass(frozen=True)
class Mismatch:
    """A stage whose lock entry does not match the pipeline.

    Attributes:
        stage: The stage name.
        reasons: Why, in words for a user.
    """

    stage: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class GateInputs:
    """What `check` compares, as values and lookups.

    Attributes:
        order: The pipeline's stages in run order.
        writers: Path -> names of the stages that write it (or above/below it).
        sources: Source dep path -> content hash now (None when missing).
        versions: Kind name -> versions that go into keys.
        lock: Stage name -> the lock file's entry.
        unmerged: Stages a lock merge dropped because both sides changed them.
        known: Every stage name of the pipeline (entries of other names are reported).
    """

    order: Sequence[StageSpec]
    writers: Callable[[str], set[str]]
    sources: Mapping[str, str | None]
    versions: Mapping[str, Mapping[str, str]]
    lock: Mapping[str, LockEntry]
    unmerged: Collection[str] = ()
    known: Collection[str] = ()


def source_deps(order: Sequence[StageSpec], writers: Callable[[str], set[str]]) -> list[str]:
    """The deps no stage writes: the only paths `check` needs hashed."""
    return list(dict.fromkeys(dep for stage in order for dep in stage.deps if not writers(dep)))


def check(inputs: GateInputs) -> tuple[Mismatch, ...]:
    """The stages whose lock entry does not match, in run order; () when the lock matches."""
    by_name = {stage.name: stage for stage in inputs.order}
    bad: set[str] = set()
    found: list[Mismatch] = []
    for stage in inputs.order:
        if stage.always_run or stage.frozen:
            continue
        entry = inputs.lock.get(stage.name)
        if entry is None:
            why = MERGE_REASON if stage.name in inputs.unmerged else "not in the lock file"
            reasons = [why]
        else:
            deps = {dep: _dep(dep, entry, inputs, by_name, bad) for dep in stage.deps}
            reasons = _reasons(stage, entry, deps, inputs.versions[stage.kind])
        if reasons:
            bad.add(stage.name)
            found.append(Mismatch(stage.name, tuple(reasons)))
    found.extend(Mismatch(name, ("in the lock file but not in the pipeline",))
                 for name in sorted(set(inputs.lock) - set(inputs.known)) if inputs.known)
    return tuple(found)


def _dep(dep: str, entry: LockEntry, inputs: GateInputs, by_name: Mapping[str, StageSpec],
         bad: set[str]) -> Observed:
    """What the dep holds: on disk for a source, else what its writer's entry records."""
    writers = sorted(inputs.writers(dep) & set(by_name))
    if not writers:
        return inputs.sources.get(dep)
    for writer in writers:
        if writer in bad:
            return Pending(writer)
    for writer in writers:
        recorded = inputs.lock.get(writer)
        spec = by_name[writer]
        if recorded is not None and dep in recorded.outs and not (spec.always_run
                                                                  or spec.frozen):
            return recorded.outs[dep]
    return entry.deps.get(dep)


def _reasons(stage: StageSpec, entry: LockEntry, deps: Mapping[str, Observed],
             versions: Mapping[str, str]) -> list[str]:
    known = all(isinstance(deps.get(dep), str) for dep in stage.deps)
    key = stage_key(stage, versions, deps) if known else None  # type: ignore[arg-type]
    facts = StageFacts(definition=template_hash(stage), key=key, deps=deps, outs={})
    return [reason.replace("will run", "does not match")
            for reason in stale_reasons(stage, facts, entry)]
