"""The report as one self-contained HTML page: inline CSS and SVG, nothing to fetch.

Every value that comes from the pipeline, its history or the registry (stage, metric, model
and alias names, descriptions, check messages) is escaped with `html.escape`; only the
fragments built here are marked as `Markup`. The page's Content-Security-Policy allows no
script and no request at all, so the file opens offline and a hostile name stays text.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlpipe.models.card import sections, text
from mlpipe.report import svg
from mlpipe.report.data import CommitRuns, ModelView, ReportData, ValidationView

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STATUS_KEYS = {"ran": "ran last time", "restored": "restored from the cache",
               "failed": "failed last time", "never ran": "no run recorded"}

PAGE = string.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$csp">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header>
<h1>$title</h1>
$description
<p class="meta">$meta</p>
<nav><a href="#dag">Pipeline</a> <a href="#runs">Runs</a> <a href="#metrics">Metrics</a>
<a href="#validation">Validation</a> <a href="#registry">Registry</a>
<a href="#cards">Model cards</a></nav>
</header>
<main>
<section id="dag"><h2>Pipeline</h2>$legend<div class="scroll">$dag</div></section>
<section id="runs"><h2>Runs per commit</h2>$runs</section>
<section id="metrics"><h2>Metrics over commits</h2>$metrics</section>
<section id="validation"><h2>Validation</h2>$validation</section>
<section id="registry"><h2>Model registry</h2>$registry</section>
<section id="cards"><h2>Model cards</h2>$cards</section>
</main>
</body>
</html>
""")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0}.meta{color:#b8c0cc;font-size:12px}nav a{color:#9cc4ff;margin-right:14px}
main{padding:8px 28px 40px;max-width:1200px}section{background:#fff;border:1px solid #dde1e7;
border-radius:8px;padding:14px 18px;margin:16px 0}h2{margin:0 0 10px;font-size:18px}
h3{font-size:15px;margin:14px 0 6px}h4{font-size:13px;margin:12px 0 4px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e6e9ee;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.pass{color:#11713a;font-weight:600}.fail{color:#b3261e;font-weight:600}
.empty{color:#6b7380;font-style:italic}.scroll{overflow-x:auto}
.charts{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;border:1px solid #e6e9ee;border-radius:6px;padding:6px 8px}
figcaption{font-weight:600;font-size:13px}
svg text{font-family:system-ui,sans-serif}
.dag .edge{fill:none;stroke:#8a94a6;stroke-width:1.6}.dag .arrowhead{fill:#8a94a6}
.dag .node rect{stroke-width:1.5}.dag .name{font-size:13px;font-weight:600;text-anchor:middle}
.dag .sub{font-size:11px;fill:#4b5563;text-anchor:middle}
.status-ran rect,.key.status-ran i{fill:#d9f2e1;stroke:#2f9e5b;background:#d9f2e1}
.status-restored rect,.key.status-restored i{fill:#dbe9fb;stroke:#3b78c4;background:#dbe9fb}
.status-failed rect,.key.status-failed i{fill:#fbdcdc;stroke:#c53030;background:#fbdcdc}
.status-none rect,.key.status-none i{fill:#eef0f3;stroke:#9aa3b0;background:#eef0f3}
.legend .key{margin-right:16px;font-size:12px}.legend i{display:inline-block;width:12px;
height:12px;border:1px solid #9aa3b0;border-radius:3px;margin-right:5px;vertical-align:-2px}
.chart .line{fill:none;stroke:#3b78c4;stroke-width:2}.chart .point{fill:#3b78c4}
.chart .grid{stroke:#eceef2}.chart .axis{stroke:#9aa3b0}.chart text{font-size:10px;fill:#4b5563}
details.card{border:1px solid #e6e9ee;border-radius:6px;padding:6px 12px;margin:8px 0}
details.card summary{cursor:pointer;font-weight:600}
.registry td:nth-child(4),.alias-history td:nth-child(4){white-space:nowrap}
"""


class Markup(str):
    """HTML built here, inserted as is (everything else is escaped)."""


def esc(value: object) -> str:
    """Escape a value for HTML text or a quoted attribute; Markup passes through."""
    return value if isinstance(value, Markup) else svg.esc(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], css: str = "",
           numeric: Iterable[int] = ()) -> Markup:
    right = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if i in right else ""}>{esc(cell)}</td>'
                         for i, cell in enumerate(row)) + "</tr>" for row in rows)
    cls = f' class="{esc(css)}"' if css else ""
    return Markup(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _verdict(passed: object) -> Markup:
    return Markup('<span class="pass">pass</span>' if passed else '<span class="fail">FAIL</span>')


def _empty(message: str) -> Markup:
    return Markup(f'<p class="empty">{esc(message)}</p>')


def _short(sha: str | None) -> str:
    return sha[:8] if sha else "(no commit)"


def _runs(commits: Sequence[CommitRuns]) -> Markup:
    if not commits:
        return _empty("No runs recorded yet (`mlpipe run` records each stage it runs).")
    statuses = sorted({s for c in commits for s in c.counts})
    rows = [(Markup(f'<span class="mono">{esc(_short(c.commit))}</span>'), c.subject, c.runs,
             "yes" if c.dirty else "no", *(c.counts.get(s, 0) for s in statuses),
             ", ".join(c.failed) or "-") for c in commits]
    headers = ["commit", "subject", "runs", "dirty", *(f"stages {s}" for s in statuses),
               "failed stages"]
    return _table(headers, rows, "runs", numeric=range(2, 4 + len(statuses)))


def _metrics(data: ReportData) -> Markup:
    if not data.metrics:
        return _empty("No metrics recorded yet.")
    figures = "".join(f'<figure><figcaption>{esc(m.name)}</figcaption>'
                      f"{svg.line_chart(m.name, m.points)}</figure>" for m in data.metrics)
    labels = list(dict.fromkeys(label for m in data.metrics for label, _ in m.points))
    values = {(m.name, label): value for m in data.metrics for label, value in m.points}
    rows = [(label, *(text(values.get((m.name, label))) for m in data.metrics))
            for label in labels]
    table = _table(["commit", *(m.name for m in data.metrics)], rows, "metrics",
                   numeric=range(1, 1 + len(data.metrics)))
    return Markup(f'<div class="charts">{figures}</div><h3>Values</h3>'
                  f'<div class="scroll">{table}</div>')


def _validation(views: Sequence[ValidationView]) -> Markup:
    if not views:
        return _empty("The pipeline has no validate stage.")
    parts = []
    for view in views:
        parts.append(f"<h3>{esc(view.stage)} <span class=mono>{esc(view.path)}</span></h3>")
        if view.report is None:
            parts.append(_empty("No report yet."))
            continue
        checks = [c for c in view.report["checks"] if isinstance(c, Mapping)]
        failed = sum(1 for c in checks if not c.get("passed"))
        parts.append(f"<p>{_verdict(view.report.get('passed'))} {len(checks) - failed} of "
                     f"{len(checks)} checks passed</p>")
        parts.append(_table(["check", "column", "observed", "threshold", "result", "message"],
                            [(c.get("check"), text(c.get("column")), text(c.get("observed")),
                              text(c.get("threshold")), _verdict(c.get("passed")),
                              c.get("message") or "") for c in checks], "checks"))
    return Markup("".join(parts))


def _metrics_text(metrics: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={text(v)}" for k, v in sorted(metrics.items())) or "-"


def _registry(models: Sequence[ModelView]) -> Markup:
    if not models:
        return _empty("No models registered.")
    rows = []
    for model in models:
        for v in reversed(model.versions):
            held = ", ".join(a for a, n in sorted(model.aliases.items()) if n == v.version)
            rows.append((model.name, v.version, Markup(f'<span class="mono">'
                                                       f"{esc(v.digest[:12])}</span>"),
                         v.created_at, _verdict(v.gates_passed), held or "-",
                         _metrics_text(v.metrics)))
    table = _table(["model", "version", "digest", "registered", "gates", "aliases", "metrics"],
                   rows, "registry", numeric=[1])
    history = [(m.name, alias, change["version"], change["set_at"],
                "yes" if change["rolled_back"] else "no")
               for m in models for alias, changes in sorted(m.alias_history.items())
               for change in changes]
    alias_table = (_table(["model", "alias", "version", "set at", "rolled back"], history,
                          "alias-history", numeric=[2]) if history else _empty("No aliases."))
    return Markup(f'<div class="scroll">{table}</div><h3>Alias history</h3>{alias_table}')


def card_html(card: Mapping[str, Any]) -> Markup:
    """One model card's sections as HTML (headings, paragraphs, tables)."""
    parts = []
    for section in sections(card):
        parts.append(f"<h4>{esc(section.title)}</h4>")
        if section.text:
            parts.append(f"<p>{esc(section.text)}</p>")
        if section.headers:
            parts.append(_table(section.headers, section.rows))
    return Markup("".join(parts))


def _cards(models: Sequence[ModelView]) -> Markup:
    if not models:
        return _empty("No models registered, so no cards.")
    parts = []
    for model in models:
        for i, v in enumerate(reversed(model.versions)):
            held = [a for a, n in sorted(model.aliases.items()) if n == v.version]
            title = f"{v.ref}" + (f" ({', '.join(held)})" if held else "")
            card = model.cards.get(v.version)
            body = card_html(card) if card is not None else _empty(
                "No card (registered before mlpipe kept cards).")
            parts.append(f'<details class="card" data-model="{esc(v.ref)}"'
                         f'{" open" if i == 0 else ""}><summary>{esc(title)}</summary>'
                         f"{body}</details>")
    return Markup("".join(parts))


def render(data: ReportData) -> str:
    """The whole report page.

    Args:
        data: The gathered facts.

    Returns:
        The HTML document.
    """
    nodes = [(s.name, s.kind, s.status) for s in data.stages]
    description = (f'<p class="description">{esc(data.description)}</p>'
                   if data.description else "")
    meta = f"generated {data.generated_at}" + (
        f" at commit {data.head[:12]}" if data.head else " (no git commit)")
    return PAGE.substitute(
        csp=CSP, title=esc(f"mlpipe report: {data.pipeline}"), css=CSS,
        description=description, meta=esc(meta),
        legend=svg.legend({s: STATUS_KEYS[s] for s in STATUS_KEYS}),
        dag=svg.dag(nodes, data.edges), runs=_runs(data.commits), metrics=_metrics(data),
        validation=_validation(data.validations), registry=_registry(data.models),
        cards=_cards(data.models))
