"""One name per metric, whatever the number of metrics files: the bare name (`accuracy`), and
`file:name` only for a name that two files hold (a true clash). Clashes are found over every
row shown at once, so a metric keeps its name from row to row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ByFile = Mapping[str, Mapping[str, Any]]


def clashes(tables: Iterable[ByFile]) -> frozenset[str]:
    """Metric names that more than one metrics file holds, in any of `tables`."""
    owners: dict[str, set[str]] = {}
    for by_file in tables:
        for path, values in by_file.items():
            for name in values:
                owners.setdefault(name, set()).add(path)
    return frozenset(name for name, files in owners.items() if len(files) > 1)


def flat(by_file: ByFile, clashing: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Metric name -> value: bare names, `file:name` for the names in `clashing`."""
    found: dict[str, Any] = {}
    for path, values in sorted(by_file.items()):
        for name, value in values.items():
            found[f"{path}:{name}" if name in clashing else name] = value
    return found
