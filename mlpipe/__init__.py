"""mlpipe: GitOps-style ML pipelines. Declare stages in YAML, run only what changed.

The public API (`load`, `status`, `run`, and their option types) is imported on first use,
so `import mlpipe` stays light.
"""

from __future__ import annotations

from typing import Any

from mlpipe.version import __version__

__all__ = ["RunOptions", "Selection", "__version__", "load", "run", "status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mlpipe import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlpipe' has no attribute '{name}'")
