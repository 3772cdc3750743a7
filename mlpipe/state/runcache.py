"""The run-cache: stage key -> the outputs that key produced, so a seen result is restored.

Entries are small JSON files at `.mlpipe/cache/runs/ab/<key>.json` with a format version.
An entry that cannot be read, or has another format, is reported, removed and treated as a
miss: the stage simply runs again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import CacheWriteError
from mlpipe.spec.model import StageSpec
from mlpipe.state.fsutil import atomic_write_text

FORMAT = 1


@dataclass(frozen=True)
class RunEntry:
    """What a stage key produced.

    Attributes:
        outs: Output path -> content hash.
        commit: The git commit the run happened at (None outside git).
    """

    outs: Mapping[str, str]
    commit: str | None


def can_cache(stage: StageSpec) -> bool:
    """Whether a stage's results may be restored from the run-cache.

    A stage with no outputs has nothing to restore; an `always_run` stage declares that its
    result depends on more than its key (time, the network...), so a past result is no answer.
    """
    return bool(stage.outs) and not stage.always_run


def parse_entry(data: bytes) -> RunEntry:
    """A run-cache entry from its stored bytes.

    Raises:
        ValueError: The bytes are not an entry of this format; the message says why.
    """
    try:
        raw = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ValueError(f"unreadable: {exc}") from None
    found = raw.get("format") if isinstance(raw, dict) else None
    if found != FORMAT:
        raise ValueError(f"format {found!r}, expected {FORMAT}")
    outs = raw.get("outs")
    if not isinstance(outs, dict) or not all(isinstance(v, str) for v in outs.values()):
        raise ValueError("no valid 'outs'")
    return RunEntry(outs=outs, commit=raw.get("commit"))


class RunCache:
    """Read and write run-cache entries; corrupt entries become warnings and misses."""

    def __init__(self, runs_dir: Path, warn: Callable[[str], None] = lambda _: None) -> None:
        self.runs_dir = runs_dir
        self.warn = warn

    def path_of(self, key: str) -> Path:
        return self.runs_dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> RunEntry | None:
        path = self.path_of(key)
        try:
            return parse_entry(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._corrupt(path, f"unreadable: {exc}")
        except ValueError as exc:
            self._corrupt(path, str(exc))
        return None

    def put(self, key: str, entry: RunEntry) -> None:
        body = {"format": FORMAT, "outs": dict(sorted(entry.outs.items())),
                "commit": entry.commit}
        path = self.path_of(key)
        try:
            atomic_write_text(path, json.dumps(body, indent=1, sort_keys=True),
                              durable=False)
        except OSError as exc:
            raise CacheWriteError(path, exc) from None

    def _corrupt(self, path: Path, detail: str) -> None:  # returns None: a miss
        self.warn(f"{path}: corrupt run-cache entry ({detail}); removed, the stage will run")
        with contextlib.suppress(OSError):  # a read-only cache keeps it; still a miss
            path.unlink(missing_ok=True)
        return None
