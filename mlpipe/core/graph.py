"""PipelineSpec -> DAG of stages: edges, checks (cycles, clashing outputs, missing deps), selection.

An edge A -> B exists when B depends on a path that A writes, on a path inside a directory A
writes, on a directory that holds a path A writes, or when B lists A in `needs`. Pure: the only
view of the disk is the `exists` function the caller passes in.
"""

from __future__ import annotations

import bisect
import graphlib
import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlpipe.errors import CycleError, SpecError, UsageError, did_you_mean
from mlpipe.spec.model import PipelineSpec, StageSpec

if TYPE_CHECKING:
    import networkx as nx


def _parents(path: str) -> Iterable[str]:
    parts = path.split("/")
    for end in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:end])


class _OutputIndex:
    """Which stage writes a path, found in O(depth + log n)."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        self._sorted: list[str] = []

    def add(self, path: str, stage: str) -> None:
        self.owner[path] = stage
        bisect.insort(self._sorted, path)

    def writers(self, path: str) -> set[str]:
        """Stages writing `path`, a directory above it, or anything below it."""
        found = {self.owner[p] for p in (path, *_parents(path)) if p in self.owner}
        prefix = path + "/"
        start = bisect.bisect_left(self._sorted, prefix)
        for candidate in self._sorted[start:]:
            if not candidate.startswith(prefix):
                break
            found.add(self.owner[candidate])
        return found


@dataclass(frozen=True)
class StageGraph:
    """The pipeline as a DAG of stage names; selections return new StageGraphs.

    A plain mapping, not a networkx graph: `import networkx` costs more than half of a no-op
    run's time budget, and the hot path needs only parents, children and an order.
    `to_networkx()` gives the same graph to code that wants networkx's algorithms.

    Attributes:
        spec: The whole pipeline (selection never drops stages from it).
        parents: Each selected stage -> the selected stages it depends on directly.
        index: Which stage writes which path (for the whole pipeline).
    """

    spec: PipelineSpec
    parents: Mapping[str, frozenset[str]]
    index: _OutputIndex = field(repr=False)

    def __contains__(self, name: object) -> bool:
        return name in self.parents

    @property
    def nodes(self) -> list[str]:
        """Selected stage names in file order."""
        return [name for name in self.spec.names if name in self.parents]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(producer, consumer) pairs, sorted."""
        return sorted((parent, child) for child, ps in self.parents.items() for parent in ps)

    def writers(self, path: str) -> set[str]:
        """Selected stages that write `path`, a directory above it, or something below it."""
        return {name for name in self.index.writers(path) if name in self.parents}

    def order(self) -> list[StageSpec]:
        """Stages of the selection in dependency order, ties broken by file order."""
        position = {name: i for i, name in enumerate(self.spec.names)}
        waiting = {name: len(ps) for name, ps in self.parents.items()}
        children = self._children()
        ready = [(position[name], name) for name, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[StageSpec] = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(self.spec.stage(name))
            for child in children[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (position[child], child))
        return order

    def upstream(self, name: str) -> list[str]:
        """Direct predecessors of a stage, in file order."""
        return sorted(self.parents[name], key=self.spec.names.index)

    def downstream(self, name: str) -> list[str]:
        """Direct successors of a stage, in file order."""
        return sorted(self._children()[name], key=self.spec.names.index)

    def select(self, targets: Iterable[str] = (), *, downstream: bool = False,
               no_deps: bool = False) -> StageGraph:
        """The targets and what they need (or, with `downstream`, what needs them)."""
        targets = list(targets)
        if not targets:
            return self
        for name in targets:
            if name not in self.parents:
                raise UsageError(f"unknown stage '{name}'{did_you_mean(name, self.nodes)}; "
                                 f"stages: {', '.join(self.spec.names)}")
        chosen = set(targets)
        if not no_deps:
            step = self._children() if downstream else self.parents
            todo = list(targets)
            while todo:
                for nxt in step[todo.pop()]:
                    if nxt not in chosen:
                        chosen.add(nxt)
                        todo.append(nxt)
        parents = {name: self.parents[name] & chosen for name in chosen}
        return StageGraph(self.spec, parents, self.index)

    def to_networkx(self) -> nx.DiGraph:
        """The selection as a networkx DiGraph (nodes in file order, edges producer -> consumer)."""
        import networkx as nx

        dag = nx.DiGraph()
        dag.add_nodes_from(self.nodes)
        dag.add_edges_from(self.edges)
        return dag

    def _children(self) -> dict[str, set[str]]:
        children: dict[str, set[str]] = {name: set() for name in self.parents}
        for child, ps in self.parents.items():
            for parent in ps:
                children[parent].add(child)
        return children


def build(spec: PipelineSpec, exists: Callable[[str], bool]) -> StageGraph:
    """Build and check the DAG; `exists(path)` says whether a dep is on disk."""
    parents: dict[str, set[str]] = {}
    index = _OutputIndex()
    for stage in spec:
        parents[stage.name] = set()
        for out in stage.outs:
            clash = index.writers(out)
            if clash:
                other = sorted(clash)[0]
                raise SpecError(f"output '{out}' is also written by stage '{other}'",
                                path=spec.path, line=stage.line, stage=stage.name,
                                hint="(each path may have one writer)")
            index.add(out, stage.name)
    for stage in spec:
        _add_edges(spec, parents, index, stage, exists)
    _check_acyclic(spec, parents)
    return StageGraph(spec, {name: frozenset(ps) for name, ps in parents.items()}, index)


def _add_edges(spec: PipelineSpec, parents: dict[str, set[str]], index: _OutputIndex,
               stage: StageSpec, exists: Callable[[str], bool]) -> None:
    for dep in stage.deps:
        writers = index.writers(dep)
        if not writers and not exists(dep):
            raise SpecError(f"dep '{dep}' does not exist and no stage writes it",
                            path=spec.path, line=stage.line, stage=stage.name)
        parents[stage.name] |= writers
    for need in stage.needs:
        if need not in parents:
            raise SpecError(f"'needs' names unknown stage '{need}'{did_you_mean(need, parents)}",
                            path=spec.path, line=stage.line, stage=stage.name)
        parents[stage.name].add(need)


def _check_acyclic(spec: PipelineSpec, parents: Mapping[str, set[str]]) -> None:
    try:
        graphlib.TopologicalSorter(parents).prepare()
    except graphlib.CycleError as exc:
        found: list[str] = exc.args[1][:-1]
        first = min(range(len(found)), key=lambda i: spec.names.index(found[i]))
        cycle = found[first:] + found[:first]
        raise CycleError(cycle, path=spec.path, line=spec.stage(cycle[0]).line) from None
