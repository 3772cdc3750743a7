"""Stage keys: one hash of everything that decides what a stage produces.

In the key: the kind and the versions that shape its results, the resolved definition (the
command after interpolation, its deps/outs/metrics paths, kind fields), the values of the
params it uses, and the content hash of every dep. Deliberately NOT in the key:

- the stage name: renaming a stage does not change what it computes, so its past results
  stay restorable;
- `needs`: it orders stages; whatever flows between them is a dep and is keyed as such;
- `frozen` and `always_run`: they say *when* to run, not *what* a run produces;
- `timeout`: it bounds how long a run may take, not what a finished run produces; a stage
  that overruns is killed and records nothing, so raising or adding a limit must not re-run
  (or orphan the cached results of) stages that already finished;
- `desc` and the stage's line in the file: documentation and position;
- the git commit: every commit would otherwise invalidate every stage. The commit is
  *recorded* (run-cache and history, see execute/record.py), never keyed.

Pure: dep hashes come in as a mapping; nothing here touches the disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlpipe.spec.model import StageSpec
from mlpipe.state.hashing import dict_hash


def definition(stage: StageSpec) -> dict[str, Any]:
    """The parts of a stage's declaration that go into its key (see the module docstring)."""
    return {
        "kind": stage.kind,
        "config": dict(stage.config),
        "deps": sorted(stage.deps),
        "outs": sorted(stage.outs),
        "metrics": sorted(stage.metrics),
    }


# Raw fields left out of the template hash, for the reasons given in the module docstring.
NOT_KEYED = frozenset({"desc", "needs", "frozen", "always_run", "timeout"})


def template_hash(stage: StageSpec) -> str:
    """Hash of the stage as the user wrote it (before interpolation), minus NOT_KEYED.

    Stored in the lock file, it tells "the stage was edited" apart from "a param it
    interpolates changed"; the key itself uses the resolved `definition`.
    """
    return dict_hash({k: v for k, v in stage.raw.items() if k not in NOT_KEYED})


def stage_key(stage: StageSpec, versions: Mapping[str, str], deps: Mapping[str, str]) -> str:
    """The key of a stage given its kind's versions and each dep's content hash."""
    return dict_hash({
        "definition": definition(stage),
        "versions": dict(versions),
        "params": dict(stage.params),
        "deps": {path: deps[path] for path in sorted(stage.deps)},
    })
