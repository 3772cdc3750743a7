"""Prometheus metrics of one serving process, in the text exposition format (`/metrics`).

`mlpipe_requests_total{path,status}` counts answered requests, `mlpipe_request_seconds` is
a latency histogram per path, `mlpipe_request_errors_total{path}` counts 5xx answers and
`mlpipe_model_info{name,version,digest}` names the served model. With `--workers N` every
process keeps its own figures (a scrape reaches one of them).

This module imports nothing from mlpipe, so bundles can ship it as is.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Request counters and latency histograms, safe to update from any thread.

    Attributes:
        model: The served model's labels ({"name", "version", "digest"}).
    """

    def __init__(self, model: Mapping[str, Any]) -> None:
        self.model = {k: model.get(k) for k in ("name", "version", "digest")}
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request on `path` (a known route, else "other")."""
        with self._lock:
            self._requests[(path, status)] += 1
            counts = self._buckets.setdefault(path, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            self._sums[path] += seconds

    def render(self) -> str:
        """The metrics in Prometheus' text format."""
        with self._lock:
            requests = dict(self._requests)
            buckets = {p: list(c) for p, c in self._buckets.items()}
            sums = dict(self._sums)
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in self.model.items())
        lines = ["# HELP mlpipe_model_info The served model.", "# TYPE mlpipe_model_info gauge",
                 f"mlpipe_model_info{{{labels}}} 1",
                 "# HELP mlpipe_requests_total Answered requests by path and status.",
                 "# TYPE mlpipe_requests_total counter"]
        lines += [f'mlpipe_requests_total{{path="{_label(p)}",status="{s}"}} {n}'
                  for (p, s), n in sorted(requests.items())]
        errors: dict[str, int] = defaultdict(int)
        for (path, status), n in requests.items():
            if status >= 500:
                errors[path] += n
        lines += ["# HELP mlpipe_request_errors_total Requests answered with a 5xx.",
                  "# TYPE mlpipe_request_errors_total counter"]
        lines += [f'mlpipe_request_errors_total{{path="{_label(p)}"}} {errors.get(p, 0)}'
                  for p in sorted(buckets)]
        lines += ["# HELP mlpipe_request_seconds Time to answer a request.",
                  "# TYPE mlpipe_request_seconds histogram"]
        for path in sorted(buckets):
            cumulative, name = 0, _label(path)
            for bound, count in zip((*BUCKETS, "+Inf"), buckets[path], strict=True):
                cumulative += count
                lines.append(f'mlpipe_request_seconds_bucket{{path="{name}",le="{bound}"}} '
                             f"{cumulative}")
            lines.append(f'mlpipe_request_seconds_sum{{path="{name}"}} {sums[path]:.6f}')
            lines.append(f'mlpipe_request_seconds_count{{path="{name}"}} {cumulative}')
        return "\n".join(lines) + "\n"
