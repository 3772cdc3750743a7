"""requirements.txt text pinning the installed versions of packages a model needs."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version


def pinned(packages: Iterable[str]) -> str:
    """One `name==version` line per package installed here (the bare name when it is not)."""
    lines = []
    for package in packages:
        try:
            lines.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            lines.append(package)
    return "\n".join(lines) + "\n"
