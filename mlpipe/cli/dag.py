"""`mlpipe dag`: the stage graph as a tree, Mermaid, DOT or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpipe.cli import options as opt
from mlpipe.errors import UsageError
from mlpipe.state.workspace import DEFAULT_FILE

if TYPE_CHECKING:
    from collections.abc import Collection

    from mlpipe.core.graph import StageGraph


def to_mermaid(graph: StageGraph, marked: Collection[str] = ()) -> str:
    """A Mermaid flowchart; the `marked` stages (a change's) drawn in another colour."""
    ids = {stage.name: f"s{i}" for i, stage in enumerate(graph.order())}
    lines = ["flowchart TD"]
    lines += [f'    {ids[s.name]}["{s.name}"]' for s in graph.order()]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in graph.edges]
    shown = [ids[name] for name in ids if name in marked]
    if shown:
        lines += ["    classDef changed fill:#fff3bf,stroke:#f08c00,stroke-width:2px",
                  f"    class {','.join(shown)} changed"]
    return "\n".join(lines)


def to_dot(graph: StageGraph) -> str:
    lines = ["digraph mlpipe {", "    rankdir=LR;"]
    lines += [f'    "{s.name}";' for s in graph.order()]
    lines += [f'    "{a}" -> "{b}";' for a, b in graph.edges]
    return "\n".join([*lines, "}"])


def to_json(graph: StageGraph) -> str:
    return json.dumps({
        "stages": [{"name": s.name, "kind": s.kind, "deps": list(s.deps), "outs": list(s.outs),
                    "upstream": graph.upstream(s.name)} for s in graph.order()],
        "edges": [list(edge) for edge in graph.edges],
    }, indent=2)


def to_tree(graph: StageGraph) -> str:
    """Each stage under the stages it needs; a stage met again is named, not repeated."""
    lines: list[str] = []
    shown: set[str] = set()

    def walk(name: str, prefix: str, last: bool, top: bool) -> None:
        kind = graph.spec.stage(name).kind
        branch = "" if top else ("└── " if last else "├── ")
        seen = name in shown
        lines.append(f"{prefix}{branch}{name} ({kind}){' ...' if seen else ''}")
        if seen:
            return
        shown.add(name)
        children = graph.downstream(name)
        inner = prefix if top else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            walk(child, inner, i == len(children) - 1, False)

    for stage in graph.order():
        if not graph.parents[stage.name]:
            walk(stage.name, "", True, True)
    return "\n".join(lines)


def dag(
    targets: opt.Targets = None,
    file: opt.PipelineFile = Path(DEFAULT_FILE),
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Mermaid flowchart.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Graphviz DOT.")] = False,
    as_json: opt.Json = False,
) -> None:
    """Show the stage graph (default: a tree in the terminal)."""
    from mlpipe import api

    if mermaid + dot + as_json > 1:
        raise UsageError("choose one of --mermaid, --dot, --json")
    graph = api.load(file).graph.select(targets or ())
    fmt = to_mermaid if mermaid else to_dot if dot else to_json if as_json else to_tree
    typer.echo(fmt(graph))


def register(app: typer.Typer) -> None:
    app.command("dag")(dag)
