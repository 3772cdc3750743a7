"""The project's own Python code that a stage names by import path, found in its files.

A kind lists the config fields that may hold import paths (`StageKind.code_fields`), e.g.
`estimator: mymodels.ThresholdLR`. Each dotted name whose module is a file under the pipeline
root (`mymodels.py`, `pkg/models.py`, a package's `__init__.py`) is the stage's *code*, and so
is every module under the root those files import, followed through `import` statements
(relative ones included). The parser adds these files to the stage's deps, so their content
is in the stage key and an edit makes the stage stale ("code mymodels.py changed").

`importable` puts the root first on `sys.path` while a stage runs, so the same modules are
imported without `PYTHONPATH`, and drops earlier imports of them so that an edited file is
read afresh in a long-lived process. Installed packages are never looked for here: a name is
local only when its file is under the root.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
# How many local files one stage may pull in through imports before the walk stops looking.
_MAX_FILES = 500
# Roots put on sys.path by `importable`, with how many stages running now need each one.
_ON_PATH: dict[str, int] = {}
_PATH_LOCK = threading.Lock()


def _module_file(root: Path, parts: list[str]) -> Path | None:
    """The file under `root` that defines the module `parts` (a.b -> a/b.py or a/b/__init__.py)."""
    base = root.joinpath(*parts)
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_packages(root: Path, parts: list[str]) -> list[Path]:
    """The module's file and the `__init__.py` of each package above it, when under `root`."""
    files = [f for i in range(1, len(parts)) if (f := _module_file(root, parts[:i])) is not None
             and f.name == "__init__.py"]
    own = _module_file(root, parts)
    return [*files, own] if own is not None else files


def resolve(root: Path, dotted: str) -> list[Path]:
    """The local files behind an import path (module or `module.attribute`); [] if none.

    Args:
        root: The pipeline root (the directory put first on `sys.path`).
        dotted: A name such as `mymodels.ThresholdLR` or `pkg.models`.

    Returns:
        The defining module's file and its packages' `__init__.py` files.
    """
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if _module_file(root, parts[:end]) is not None:
            return _with_packages(root, parts[:end])
    return []


def _imported_names(path: Path, root: Path) -> Iterator[str]:
    """Absolute module names a file imports (relative imports made absolute)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return
    package = list(path.relative_to(root).parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                prefix = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                prefix = node.module or ""
            if not prefix:
                continue
            yield prefix
            yield from (f"{prefix}.{alias.name}" for alias in node.names if alias.name != "*")


def code_files(root: Path, names: Iterable[str]) -> list[str]:
    """Every local file the import paths `names` lead to, following imports; root-relative.

    Args:
        root: The pipeline root.
        names: Import paths named by a stage.

    Returns:
        POSIX paths relative to the root, sorted.
    """
    root = root.resolve()
    seen: set[Path] = set()
    todo = [f for name in names for f in resolve(root, name)]
    while todo and len(seen) < _MAX_FILES:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(f for name in _imported_names(path, root) for f in resolve(root, name))
    return sorted(p.relative_to(root).as_posix() for p in seen)


def dotted_names(config: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    """The strings that look like import paths (`a.b`) anywhere inside the given fields."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and _DOTTED.match(value):
            found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for name in fields:
        walk(config.get(name))
    return found


@contextlib.contextmanager
def importable(root: Path, files: Iterable[str] = ()) -> Iterator[None]:
    """Make the root's modules importable, and the given code files imported afresh.

    Args:
        root: The pipeline root; put first on `sys.path` for the duration.
        files: Root-relative code files; modules loaded from them are dropped from
            `sys.modules` first, so an edited file is not served from an earlier import.
    """
    entry = str(Path(root).resolve())
    stale = {str((Path(entry) / f).resolve()) for f in files}
    with _PATH_LOCK:
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if path and str(Path(path).resolve()) in stale:
                del sys.modules[name]
        if entry in _ON_PATH or entry not in sys.path:
            _ON_PATH[entry] = _ON_PATH.get(entry, 0) + 1
            if entry not in sys.path:
                sys.path.insert(0, entry)
        owned = entry in _ON_PATH
    try:
        yield
    finally:
        if owned:
            with _PATH_LOCK:
                _ON_PATH[entry] -= 1
                if not _ON_PATH[entry]:
                    del _ON_PATH[entry]
                    if entry in sys.path:
                        sys.path.remove(entry)
