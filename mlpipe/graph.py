"""PipelineSpec -> DAG of stages: edges, checks (cycles, clashing outputs, missing deps), selection.

An edge A -> B exists when B depends on a path that A writes, on a path inside a directory A
writes, on a directory that holds a path A writes, or when B lists A in `needs`. Pure: the only
view of the disk is the `exists` function the caller passes in.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import networkx as nx

from mlpipe.errors import CycleError, SpecError, UsageError, did_you_mean
from mlpipe.spec.model import PipelineSpec, StageSpec


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

    Attributes:
        spec: The whole pipeline (selection never drops stages from it).
        dag: Nodes are stage names of the current selection; edges run producer -> consumer.
        index: Which stage writes which path (for the whole pipeline).
    """

    spec: PipelineSpec
    dag: nx.DiGraph
    index: _OutputIndex = field(repr=False)

    def writers(self, path: str) -> set[str]:
        """Selected stages that write `path`, a directory above it, or something below it."""
        return {name for name in self.index.writers(path) if name in self.dag}

    def order(self) -> list[StageSpec]:
        """Stages of the selection in dependency order, ties broken by file order."""
        position = {name: i for i, name in enumerate(self.spec.names)}
        names = nx.lexicographical_topological_sort(self.dag, key=position.__getitem__)
        return [self.spec.stage(name) for name in names]

    def upstream(self, name: str) -> list[str]:
        """Direct predecessors of a stage, in file order."""
        return sorted(self.dag.predecessors(name), key=self.spec.names.index)

    def select(self, targets: Iterable[str] = (), *, downstream: bool = False,
               no_deps: bool = False) -> StageGraph:
        """The targets and what they need (or, with `downstream`, what needs them)."""
        targets = list(targets)
        if not targets:
            return self
        for name in targets:
            if name not in self.dag:
                raise UsageError(f"unknown stage '{name}'{did_you_mean(name, self.dag.nodes)}; "
                                 f"stages: {', '.join(self.spec.names)}")
        chosen = set(targets)
        if not no_deps:
            walk = nx.descendants if downstream else nx.ancestors
            for name in targets:
                chosen |= walk(self.dag, name)
        return StageGraph(self.spec, self.dag.subgraph(chosen).copy(), self.index)


def build(spec: PipelineSpec, exists: Callable[[str], bool]) -> StageGraph:
    """Build and check the DAG; `exists(path)` says whether a dep is on disk."""
    dag = nx.DiGraph()
    index = _OutputIndex()
    for stage in spec:
        dag.add_node(stage.name)
        for out in stage.outs:
            clash = index.writers(out)
            if clash:
                other = sorted(clash)[0]
                raise SpecError(f"output '{out}' is also written by stage '{other}'",
                                path=spec.path, line=stage.line, stage=stage.name,
                                hint="(each path may have one writer)")
            index.add(out, stage.name)
    for stage in spec:
        _add_edges(spec, dag, index, stage, exists)
    _check_acyclic(spec, dag)
    return StageGraph(spec, dag, index)


def _add_edges(spec: PipelineSpec, dag: nx.DiGraph, index: _OutputIndex, stage: StageSpec,
               exists: Callable[[str], bool]) -> None:
    for dep in stage.deps:
        writers = index.writers(dep)
        if not writers and not exists(dep):
            raise SpecError(f"dep '{dep}' does not exist and no stage writes it",
                            path=spec.path, line=stage.line, stage=stage.name)
        for writer in writers:
            dag.add_edge(writer, stage.name)
    for need in stage.needs:
        if need not in dag:
            raise SpecError(f"'needs' names unknown stage '{need}'{did_you_mean(need, dag.nodes)}",
                            path=spec.path, line=stage.line, stage=stage.name)
        dag.add_edge(need, stage.name)


def _check_acyclic(spec: PipelineSpec, dag: nx.DiGraph) -> None:
    try:
        edges = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        return
    cycle = [edge[0] for edge in edges]
    raise CycleError(cycle, path=spec.path, line=spec.stage(cycle[0]).line)
