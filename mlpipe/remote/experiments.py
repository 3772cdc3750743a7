"""Experiments through the remote: each record as `<root>/experiments/<name>.json`, and the
objects its lock file names in the remote's object area, so a teammate who pulls it can
`exp show` it and `exp apply` it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import RemoteError
from mlpipe.remote.cache import RemoteStore
from mlpipe.remote.fs import describe
from mlpipe.remote.link import Local
from mlpipe.remote.sync import Wanted, pull, push
from mlpipe.state import lockfile
from mlpipe.state.experiments import NAME_RE, BadRecord, Experiment, ExperimentStore


@dataclass(frozen=True)
class Moved:
    """What an `exp push` or `exp pull` moved: experiment names and objects."""

    experiments: tuple[str, ...]
    objects: int


def _objects(exp: Experiment) -> dict[str, str]:
    lock = lockfile.loads(exp.lock, Path(f"experiment {exp.name}")) if exp.lock else {}
    return {str(digest): f"experiment '{exp.name}' stage '{name}' output {path}"
            for name, entry in lock.items() for path, digest in entry.outs.items()}


def _record_path(remote: RemoteStore, name: str) -> str:
    return f"{remote.root}/experiments/{name}.json"


def push_experiments(remote: RemoteStore, local: Local, experiments: Sequence[Experiment],
                     jobs: int) -> Moved:
    """Upload the records and their outputs (objects first, so a record never names
    missing ones).

    Raises:
        RemoteError: The remote cannot be reached, or a transfer failed.
    """
    objects: dict[str, str] = {}
    for exp in experiments:
        objects.update(_objects(exp))
    result = push(remote, local.store, Wanted(objects), jobs)
    if result.failures:
        raise RemoteError(remote.url, f"{len(result.failures)} object(s) did not move: "
                                      f"{result.failures[0]}")
    for exp in experiments:
        try:
            remote._final_write(None, exp.to_json().encode("utf-8"),
                                _record_path(remote, exp.name))
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(remote.url, f"cannot write experiment {exp.name} "
                                          f"({describe(exc)})") from None
    return Moved(tuple(e.name for e in experiments), result.objects)


def remote_names(remote: RemoteStore) -> list[str]:
    """The experiments the remote holds."""
    path = f"{remote.root}/experiments"
    remote.fs.invalidate_cache(path)
    try:
        found = remote.fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    except Exception as exc:  # fsspec backends raise their own errors
        raise RemoteError(remote.url, f"cannot list {path} ({describe(exc)})") from None
    names = [str(p).rstrip("/").rsplit("/", 1)[-1].removesuffix(".json") for p in found]
    return sorted(n for n in names if NAME_RE.match(n))


def pull_experiments(remote: RemoteStore, local: Local, store: ExperimentStore,
                     names: Sequence[str], jobs: int) -> Moved:
    """Download these experiments (all the remote holds when `names` is empty) and their
    outputs; a record is saved only once its objects are in the local store.

    Raises:
        RemoteError: The remote cannot be reached, a record is unreadable, or a transfer
            failed.
    """
    pulled: list[str] = []
    count = 0
    for name in names or remote_names(remote):
        try:
            data = remote.fs.cat_file(_record_path(remote, name))
            exp = Experiment.from_json(data.decode("utf-8"))
        except FileNotFoundError:
            raise RemoteError(remote.url, f"no experiment '{name}' there") from None
        except (BadRecord, UnicodeDecodeError) as exc:
            raise RemoteError(remote.url, f"experiment '{name}' is unreadable ({exc})") from None
        except Exception as exc:  # fsspec backends raise their own errors
            raise RemoteError(remote.url, f"cannot read experiment '{name}' "
                                          f"({describe(exc)})") from None
        result = pull(remote, local.store, local.runcache, _objects(exp), (), jobs)
        if result.failures:
            raise RemoteError(remote.url, f"experiment '{name}': {result.failures[0]}")
        store.save(exp)
        pulled.append(name)
        count += result.objects
    return Moved(tuple(pulled), count)
