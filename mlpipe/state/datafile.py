"""The data file: which paths outside git mlpipe versions, and the content hash of each.

`mlpipe add PATH` records a path in `mlpipe.data.yaml` beside the pipeline file (`NAME.yaml`
-> `NAME.data.yaml`), which is committed; the bytes go to the content store. One file, not
one sidecar per path: it is found without walking the tree (so `status` costs nothing more),
read at any revision with one lookup, and written in one atomic step; entries are sorted,
one per line, so two commits that add different paths touch different lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import SpecError
from mlpipe.state.fsutil import atomic_write_text

VERSION = 1
HEADER = ("# Data that mlpipe versions outside git: `mlpipe add PATH` records a path here and\n"
          "# stores its bytes; `mlpipe checkout` puts the recorded content in place.\n")
_DIGEST = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


@dataclass(frozen=True)
class Tracked:
    """One versioned path.

    Attributes:
        path: Relative POSIX path under the pipeline root (a file or a directory).
        digest: Its content hash (a directory's ends in `.dir`).
        size: Bytes of its content.
        files: Files in it (1 for a file).
    """

    path: str
    digest: str
    size: int
    files: int = 1

    def covers(self, path: str) -> bool:
        """Whether `path` is this path or lies inside it."""
        return path == self.path or path.startswith(f"{self.path}/")


def path_for(pipeline_file: Path) -> Path:
    """`mlpipe.yaml` -> `mlpipe.data.yaml`, beside the pipeline file."""
    return pipeline_file.with_suffix(".data.yaml")


def parse(text: str, source: Path) -> dict[str, Tracked]:
    """The entries of a data file's text.

    Raises:
        SpecError: It is not a data file mlpipe wrote (one line naming file and entry).
    """
    from mlpipe.spec.yamlio import loads

    doc = loads(text, source)
    if doc is None:
        return {}
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise SpecError(f"not an mlpipe data file of version {VERSION}", path=source, line=1)
    entries = doc.get("data") or {}
    if not isinstance(entries, dict):
        raise SpecError("'data' must be a mapping of path -> {hash, size, files}", path=source)
    found: dict[str, Tracked] = {}
    for path, fields in entries.items():
        if (not isinstance(path, str) or not isinstance(fields, dict)
                or not _DIGEST.match(str(fields.get("hash", "")))
                or not isinstance(fields.get("size"), int)
                or not isinstance(fields.get("files", 1), int)):
            raise SpecError(f"entry '{path}': expected {{hash: <digest>, size: <bytes>, files: "
                            "<count>}; run `mlpipe add` again to rewrite it", path=source)
        found[path] = Tracked(path, fields["hash"], fields["size"], fields.get("files", 1))
    return found


def read(path: Path) -> dict[str, Tracked]:
    """The entries of the data file at `path` (none when there is no such file).

    Raises:
        SpecError: It cannot be parsed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse(text, path)


def render(entries: Mapping[str, Tracked]) -> str:
    """The file's text: a header, the version, then one sorted line per path."""
    lines = [HEADER, f"version: {VERSION}\n", "data:\n" if entries else "data: {}\n"]
    for path in sorted(entries):
        entry = entries[path]
        lines.append(f"  {_quoted(path)}: {{hash: {entry.digest}, size: {entry.size}, "
                     f"files: {entry.files}}}\n")
    return "".join(lines)


def write(path: Path, entries: Mapping[str, Tracked]) -> None:
    """Write the data file atomically."""
    atomic_write_text(path, render(entries))


def _quoted(path: str) -> str:
    """A path as a YAML double-quoted key (any character stays itself)."""
    import json

    return json.dumps(path, ensure_ascii=False)
