"""Keeping a pipeline's outputs out of git: a managed block in `.gitignore` at its root.

`mlpipe run` writes one `/path` line per output, and one for the state directory `.mlpipe/`,
between two marker lines naming the pipeline file, and rewrites the block when the
outputs change, so `git add -A` never stages models and data. Lines outside the block are
the user's and are left as they are; pipeline files sharing a directory each get a block.
`gitignore: false` in the pipeline file leaves `.gitignore` alone.

Metrics files are left out (the caller passes the outputs to ignore): they are small, and
committing them is how `metrics diff` reads old values from git without the cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlpipe.state.fsutil import atomic_write_text
from mlpipe.state.workspace import STATE_DIR

FILE = ".gitignore"


def _markers(pipeline: str) -> tuple[str, str]:
    return (f"# >>> outputs of {pipeline}, kept in sync by `mlpipe run` "
            "(`gitignore: false` in the pipeline file turns this off)",
            f"# <<< outputs of {pipeline}")


def pattern(out: str) -> str:
    """The `.gitignore` line that matches exactly `out` (relative to the root)."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\!#" else c for c in out.rstrip("/"))
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return f"/{escaped}"


def block(pipeline: str, outs: Iterable[str]) -> list[str]:
    """The managed lines for these outputs."""
    begin, end = _markers(pipeline)
    return [begin, f"/{STATE_DIR}/", *sorted({pattern(out) for out in outs}), end]


def sync(root: Path, pipeline: str, outs: Iterable[str]) -> bool:
    """Make `root/.gitignore` hold exactly this block for `pipeline`; True when it changed."""
    path = root / FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = text.splitlines()
    begin, end = _markers(pipeline)
    wanted = block(pipeline, outs)
    if begin in lines and end in lines[lines.index(begin):]:
        start = lines.index(begin)
        stop = lines.index(end, start) + 1
        new = [*lines[:start], *wanted, *lines[stop:]]
    else:
        new = [*lines, *wanted]
    if new == lines:
        return False
    atomic_write_text(path, "\n".join(new) + "\n")
    return True
