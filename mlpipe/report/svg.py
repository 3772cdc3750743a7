"""Inline SVG for the HTML report: the DAG and line charts, with every text escaped.

Pure functions from names and numbers to SVG text; no JavaScript, no fonts or images to
load. The DAG is laid out top-down in layers (a stage sits one layer below its deepest
parent); an edge that skips layers swings out beside the stages it skips, on the outer side.
"""

from __future__ import annotations

import graphlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

NODE_H = 44
LAYER_GAP = 40
NODE_GAP = 28
MARGIN = 16
MAX_LABEL = 32
BOW = 16.0  # how far a layer-skipping edge passes beside the stages it skips
STATUS_CLASSES = {"ran": "ran", "restored": "restored", "failed": "failed"}


def esc(value: object) -> str:
    """Text for SVG/HTML content or a quoted attribute."""
    return escape(str(value), quote=True)


def _short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


@dataclass(frozen=True)
class Box:
    """Where a stage is drawn.

    Attributes:
        x: Left edge.
        y: Top edge.
        layer: Its layer (0 for stages without parents).
    """

    x: float
    y: float
    layer: int


def layers(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each stage's layer: 0 without parents, else one more than its deepest parent.

    Args:
        names: Stage names (any order).
        edges: (producer, consumer) pairs; they form no cycle.

    Returns:
        Stage name -> layer.
    """
    parents: dict[str, list[str]] = {name: [] for name in names}
    for a, b in edges:
        parents[b].append(a)
    depth: dict[str, int] = {}
    for name in graphlib.TopologicalSorter(parents).static_order():
        depth[name] = 1 + max((depth[p] for p in parents[name]), default=-1)
    return depth


def layout(names: Sequence[str], edges: Sequence[tuple[str, str]], width: float
           ) -> dict[str, Box]:
    """Place every stage: layers top-down, each layer centred, parents' order kept below.

    Args:
        names: Stage names in file order (which breaks ties within a layer).
        edges: (producer, consumer) pairs.
        width: The width of one node.

    Returns:
        Stage name -> box.
    """
    depth = layers(names, edges)
    rows: dict[int, list[str]] = {}
    for name in names:
        rows.setdefault(depth[name], []).append(name)
    widest = max((len(r) for r in rows.values()), default=0)
    total = widest * width + max(widest - 1, 0) * NODE_GAP
    parents = {name: [a for a, b in edges if b == name] for name in names}
    order = {name: i for i, name in enumerate(names)}
    boxes: dict[str, Box] = {}

    def centre(name: str) -> tuple[float, int]:
        """Below the mean position of its parents; file order breaks ties."""
        xs = [boxes[p].x for p in parents[name] if p in boxes]
        return (sum(xs) / len(xs) if xs else 0.0, order[name])

    for level in sorted(rows):
        row = sorted(rows[level], key=centre)
        span = len(row) * width + (len(row) - 1) * NODE_GAP
        left = MARGIN + (total - span) / 2
        for i, name in enumerate(row):
            boxes[name] = Box(left + i * (width + NODE_GAP), MARGIN + level * (NODE_H + LAYER_GAP),
                              level)
    return boxes


def _edge(a: Box, b: Box, between: Sequence[Box], width: float, middle: float
          ) -> tuple[str, float]:
    """An edge's path, and the farthest x it reaches.

    Between adjacent layers it runs from the bottom of `a` to the top of `b`. An edge that
    skips layers runs side to side instead, on the outer side, swinging wide enough to pass
    the stages of the layers in between.

    Args:
        a: The producer's box.
        b: The consumer's box.
        between: The boxes of the layers strictly between them.
        width: The width of a node.
        middle: The drawing's centre line.

    Returns:
        The SVG path data and its farthest x.
    """
    if b.layer - a.layer <= 1:
        x1, y1 = a.x + width / 2, a.y + NODE_H
        x2, y2 = b.x + width / 2, b.y
        mid = (y1 + y2) / 2
        path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
        return path, x1
    left = (a.x + b.x + width) / 2 < middle - 1e-6
    if left:
        x1, x2 = a.x, b.x
        reach = min([x1, x2, *(box.x for box in between)]) - BOW
    else:
        x1, x2 = a.x + width, b.x + width
        reach = max([x1, x2, *(box.x + width for box in between)]) + BOW
    control = (reach - 0.125 * (x1 + x2)) / 0.75  # puts the curve's midpoint on `reach`
    y1, y2 = a.y + NODE_H / 2, b.y + NODE_H / 2
    path = (f"M{x1:.1f},{y1:.1f} C{control:.1f},{y1:.1f} {control:.1f},{y2:.1f} "
            f"{x2:.1f},{y2:.1f}")
    return path, reach


def dag(nodes: Sequence[tuple[str, str, str]], edges: Sequence[tuple[str, str]]) -> str:
    """The pipeline's DAG as an SVG element.

    Args:
        nodes: (name, kind, status) per stage, in file order.
        edges: (producer, consumer) pairs.

    Returns:
        `<svg class="dag">` with one `g.node` per stage (classed by status) and one
        `path.edge` per edge.
    """
    if not nodes:
        return '<p class="empty">The pipeline has no stages.</p>'
    names = [n[0] for n in nodes]
    width = max(120.0, 7.4 * max(len(_short(n)) for n in names) + 28)
    boxes = layout(names, edges, width)
    content = max(b.x for b in boxes.values()) + width
    middle = (MARGIN + content) / 2
    paths, reach = [], [MARGIN, content]
    for a, b in edges:
        between = [box for box in boxes.values() if boxes[a].layer < box.layer < boxes[b].layer]
        path, far = _edge(boxes[a], boxes[b], between, width, middle)
        paths.append(f'<path class="edge" data-from="{esc(a)}" data-to="{esc(b)}" d="{path}" '
                     'marker-end="url(#arrow)"/>')
        reach.append(far)
    shift = MARGIN - min(reach)
    right = max(reach) + shift + MARGIN
    bottom = max(b.y for b in boxes.values()) + NODE_H + MARGIN
    parts = [f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{right:.0f}" '
             f'height="{bottom:.0f}" viewBox="0 0 {right:.0f} {bottom:.0f}" role="img" '
             'aria-label="pipeline stages and their dependencies">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'class="arrowhead"/></marker></defs>', f'<g transform="translate({shift:.1f},0)">',
             *paths]
    for name, kind, status in nodes:
        box = boxes[name]
        css = STATUS_CLASSES.get(status, "none")
        parts.append(
            f'<g class="node status-{css}" data-stage="{esc(name)}" data-status="{esc(status)}">'
            f"<title>{esc(name)} ({esc(kind)}): {esc(status)}</title>"
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{width:.1f}" height="{NODE_H}" '
            'rx="7"/>'
            f'<text x="{box.x + width / 2:.1f}" y="{box.y + 19:.1f}" class="name">'
            f"{esc(_short(name))}</text>"
            f'<text x="{box.x + width / 2:.1f}" y="{box.y + 35:.1f}" class="sub">'
            f"{esc(_short(kind, 16))} \u00b7 {esc(status)}</text></g>")
    parts.append("</g></svg>")
    return "".join(parts)


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About `count` round values from low to high."""
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 12))
        value += step
    return ticks


def _range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if math.isclose(low, high):
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def line_chart(name: str, points: Sequence[tuple[str, float]], width: int = 380,
               height: int = 210) -> str:
    """One metric over commits as an SVG line chart.

    Args:
        name: The metric's name.
        points: (commit label, value), oldest first; non-finite values are left out.
        width: Pixel width.
        height: Pixel height.

    Returns:
        `<svg class="chart" data-metric=...>` with one `circle.point` per value.
    """
    shown = [(label, value) for label, value in points if math.isfinite(value)]
    left, right, top, bottom = 58, 30, 14, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg class="chart" data-metric="{esc(name)}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{esc(name)} over commits">']
    if not shown:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" class="empty">no values</text>')
        return "".join([*parts, "</svg>"])
    low, high = _range([v for _, v in shown])

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if len(shown) == 1 else plot_w * i / (len(shown) - 1))

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    for tick in _ticks(low, high):
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{tick:.4g}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{width - right}" '
                 f'y1="{top + plot_h}" y2="{top + plot_h}"/>')
    coords = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, (_, v) in enumerate(shown))
    parts.append(f'<polyline class="line" points="{coords}"/>')
    every = max(1, math.ceil(len(shown) / 6))
    for i, (label, value) in enumerate(shown):
        x, y = x_of(i), y_of(value)
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
                     f"<title>{esc(label)}: {esc(f'{value:.6g}')}</title></circle>")
        if i % every == 0 or i == len(shown) - 1:
            parts.append(f'<text class="xlabel" x="{x:.1f}" y="{top + plot_h + 16}" '
                         f'text-anchor="middle">{esc(_short(label, 10))}</text>')
    return "".join([*parts, "</svg>"])


def legend(statuses: Mapping[str, str]) -> str:
    """Small coloured keys for the DAG's statuses (status -> explanation)."""
    items = "".join(f'<span class="key status-{STATUS_CLASSES.get(s, "none")}">'
                    f"<i></i>{esc(s)}: {esc(text)}</span>" for s, text in statuses.items())
    return f'<p class="legend">{items}</p>'
