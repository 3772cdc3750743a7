"""The facade of `mlpipe exp ...`: run, list, compare, apply, branch, remove, push and pull
experiments. The CLI calls only these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipe.errors import UsageError
from mlpipe.state.experiments import Experiment, ExperimentStore
from mlpipe.state.workspace import Workspace

if TYPE_CHECKING:
    from mlpipe import api
    from mlpipe.api.exprun import Outcome, Variant
    from mlpipe.remote.experiments import Moved
    from mlpipe.revisions.exptable import Difference, Table


def _store(pipeline_file: Path) -> ExperimentStore:
    return ExperimentStore(Workspace.for_file(pipeline_file).state_dir)


def get(pipeline_file: Path, name: str) -> Experiment:
    """The experiment called `name`.

    Raises:
        UsageError: There is none (the message lists a few that exist).
    """
    from mlpipe.errors import did_you_mean

    store = _store(pipeline_file)
    found = store.get(name)
    if found is None:
        names = [e.name for e in store.all()]
        raise UsageError(f"no experiment '{name}'{did_you_mean(name, names)}")
    return found


def plan(pipeline_file: Path, sets: Sequence[str], name: str | None) -> list[Variant]:
    """The variants `-S key=v1,v2 ...` asks for (see api/exprun.py)."""
    from mlpipe.api import exprun as experiments

    return experiments.plan_variants(pipeline_file, sets, name)


def enqueue(pipeline_file: Path, variants: Sequence[Variant]) -> None:
    from mlpipe.api import exprun as experiments

    experiments.queue(pipeline_file, variants)


def run(pipeline_file: Path, variants: Sequence[Variant] | None, jobs: int = 1,
        on_done: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    """Run `variants`, or (None) the queued ones, taking each off the queue once it ran."""
    from mlpipe.api import exprun as experiments

    if variants is not None:
        return experiments.run(pipeline_file, variants, jobs, on_done)
    store = _store(pipeline_file)

    def done(outcome: Outcome) -> None:
        store.dequeue(outcome.name)
        on_done(outcome)

    return experiments.run(pipeline_file, experiments.queued(pipeline_file), jobs, done)


def table(pipeline_file: Path, sort_by: str | None = None, base: str | None = None) -> Table:
    """The runs table; `base` keeps the experiments run on that revision.

    Raises:
        UsageError: An unknown revision, or a `sort_by` that names no column.
    """
    from mlpipe.revisions import exptable
    from mlpipe.vcs import gitinfo

    found = _store(pipeline_file).all()
    if base is not None:
        sha = gitinfo.resolve_rev(Path(pipeline_file).absolute().parent, base)
        if sha is None:
            raise UsageError(f"--base {base}: not a revision of this repository")
        found = [e for e in found if e.base == sha]
    try:
        return exptable.build(found, sort_by)
    except KeyError:
        built = exptable.build(found)
        raise UsageError(f"--sort-by {sort_by}: no such column (columns: "
                         f"{', '.join(built.columns)})") from None


def diff(pipeline_file: Path, a: str, b: str, everything: bool = False) -> list[Difference]:
    from mlpipe.revisions import exptable

    return exptable.diff(get(pipeline_file, a), get(pipeline_file, b), everything)


def apply(pipeline_file: Path, name: str) -> api.RunReport:
    """The experiment's params, lock file and outputs in the work tree."""
    from mlpipe.api import expapply

    return expapply.apply(Path(pipeline_file), get(pipeline_file, name))


def branch(pipeline_file: Path, name: str, branch_name: str) -> str:
    """A new git branch holding the experiment; returns its commit."""
    from mlpipe.api import expapply

    return expapply.branch(Path(pipeline_file), get(pipeline_file, name), branch_name)


def remove(pipeline_file: Path, names: Sequence[str]) -> list[str]:
    """Forget experiments (their outputs stay in the cache until `cache gc`).

    Raises:
        UsageError: One of them does not exist (then none is removed).
    """
    experiments = [get(pipeline_file, name) for name in names]
    store = _store(pipeline_file)
    return [e.name for e in experiments if store.remove(e.name)]


def push(pipeline_file: Path, names: Sequence[str], remote: str | None = None,
         jobs: int = 8) -> Moved:
    """Upload experiments (all when `names` is empty) and their outputs to the remote."""
    from mlpipe import api
    from mlpipe.remote import experiments as remote_exps
    from mlpipe.remote.link import Local, choose

    loaded = api.load(pipeline_file)
    chosen = [get(pipeline_file, n) for n in names] or _store(pipeline_file).all()
    return remote_exps.push_experiments(choose(loaded.workspace, loaded.spec, remote),
                                        Local.of(loaded.workspace), chosen, jobs)


def pull(pipeline_file: Path, names: Sequence[str], remote: str | None = None,
         jobs: int = 8) -> Moved:
    """Download experiments (all the remote holds when `names` is empty) and their outputs."""
    from mlpipe import api
    from mlpipe.remote import experiments as remote_exps
    from mlpipe.remote.link import Local, choose

    loaded = api.load(pipeline_file)
    return remote_exps.pull_experiments(choose(loaded.workspace, loaded.spec, remote),
                                        Local.of(loaded.workspace), _store(pipeline_file),
                                        names, jobs)
