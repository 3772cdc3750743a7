"""Pipeline-wide settings from the file's top level: where the shared cache is (`remote:`)
and what runs the stages (`executor:`).

    remote: s3://team-bucket/mlpipe            # or {url: ..., options: {endpoint_url: ...}}
    executor: dask                             # or {type: dask, scheduler: tcp://host:8786,
                                               #     workers: 2, files: remote}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlpipe.errors import SpecError

# What runs the stages: executor name -> its module (see mlpipe.execute.executors.base).
EXECUTORS = {"local": "mlpipe.execute.executors.local", "dask": "mlpipe.execute.executors.dask"}
# How dask workers get a stage's files: the project at the same path on every worker
# (`shared`), or through the remote cache into a scratch directory (`remote`).
WORKER_FILES = ("shared", "remote")

# Builds a SpecError pointing at a top-level key: (problem, key) -> error.
ErrorAt = Callable[[str, str], SpecError]


@dataclass(frozen=True)
class RemoteSpec:
    """A shared cache.

    Attributes:
        url: An fsspec URL or a local path (relative paths resolve against the pipeline root).
        options: Storage options passed to the filesystem (e.g. `endpoint_url` for S3).
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutorSpec:
    """What runs the stages.

    Attributes:
        type: `local` (this machine; `-j N` processes) or `dask`.
        scheduler: A dask scheduler address; None starts a local cluster.
        workers: Worker processes of that local cluster (None: one per core).
        files: How workers get a stage's files (see WORKER_FILES): `shared` or `remote`.
    """

    type: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    files: str = "shared"


def parse_remote(raw: Any, error: ErrorAt) -> RemoteSpec | None:
    """The `remote:` field: a URL, or a mapping with `url` and optional `options`."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, Mapping):
        raise error("'remote' must be a URL or a mapping with 'url'", "remote")
    unknown = sorted(set(raw) - {"url", "options"})
    if unknown:
        raise error(f"unknown field '{unknown[0]}' in 'remote' (url, options)", "remote")
    url, options = raw.get("url"), raw.get("options") or {}
    if not isinstance(url, str) or not url.strip() or "\0" in url:
        raise error("'remote.url' must be a non-empty URL or path", "remote")
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise error("'remote.options' must be a mapping of option -> value", "remote")
    return RemoteSpec(url.strip(), dict(options))


def parse_executor(raw: Any, error: ErrorAt) -> ExecutorSpec:
    """The `executor:` field: a type name, or a mapping with `type`, `scheduler`, `workers`,
    `files`."""
    if raw is None:
        return ExecutorSpec()
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise error("'executor' must be 'local', 'dask' or a mapping with 'type'", "executor")
    unknown = sorted(set(raw) - {"type", "scheduler", "workers", "files"})
    if unknown:
        raise error(f"unknown field '{unknown[0]}' in 'executor' (type, scheduler, workers, "
                    "files)", "executor")
    kind = raw.get("type", "local")
    if kind not in EXECUTORS:
        raise error(f"unknown executor {kind!r} (one of: {', '.join(EXECUTORS)})", "executor")
    scheduler = raw.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise error("'executor.scheduler' must be an address like tcp://host:8786", "executor")
    workers = raw.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise error("'executor.workers' must be a whole number >= 1", "executor")
    files = raw.get("files", "shared")
    if files not in WORKER_FILES:
        raise error(f"unknown 'executor.files' {files!r} (one of: {', '.join(WORKER_FILES)})",
                    "executor")
    if kind == "local" and (scheduler or workers):
        raise error("'scheduler' and 'workers' need 'type: dask'", "executor")
    if kind == "local" and "files" in raw:
        raise error("'files' needs 'type: dask' (it says how dask workers get a stage's files)",
                    "executor")
    return ExecutorSpec(kind, scheduler.strip() if scheduler else None, workers, files)
