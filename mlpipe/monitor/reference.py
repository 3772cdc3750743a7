"""A registered version's training data, restored from the content store by its hash.

`train` records the hash of the table it fitted on (`model_meta.training_data_hash`), and the
stage that wrote the table (e.g. `ingest`) stored it in `.mlpipe/cache/objects` under that same
hash. The bytes are checked against the hash as they are restored. When the object is not
there (`cache gc` removed it, or this is another clone), the reason says so and how to bring it
back; nothing is guessed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipe.errors import CacheCorrupt
from mlpipe.state.objects import MissingObject, ObjectStore

if TYPE_CHECKING:
    import pandas as pd

    from mlpipe.models.registry import ModelVersion

PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class TrainingData:
    """The training table of a version, or why it is not available.

    Attributes:
        digest: The hash `train` recorded (None when the metadata has none).
        frame: The table (None when not available).
        reason: Why it is not available ("" when it is).
    """

    digest: str | None
    frame: pd.DataFrame | None
    reason: str = ""


def _suffix(head: bytes) -> str:
    """The table format of stored bytes, from their first bytes (the store keeps no names)."""
    if head.startswith(PARQUET_MAGIC):
        return ".parquet"
    return ".jsonl" if head.lstrip().startswith(b"{") else ".csv"


def training_data(store: ObjectStore, version: ModelVersion) -> TrainingData:
    """Restore and read the table `version` was trained on.

    Args:
        store: The pipeline's content store.
        version: The registered version (its `meta` is train's model_meta).

    Returns:
        The table, or the reason it is not available.
    """
    from mlpipe.ml.dataio import DataError, read_table

    digest = version.meta.get("training_data_hash")
    if not isinstance(digest, str) or not digest:
        return TrainingData(None, None, f"{version.ref}'s metadata records no training-data "
                                        "hash (register it with meta: train.model_meta)")
    missing = (f"the training data of {version.ref} (hash {digest[:12]}) is not in the cache "
               f"at {store.objects_dir}: `mlpipe run` (or `mlpipe pull`) brings it back")
    try:
        with store.path_of(digest).open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return TrainingData(digest, None, missing)
    with tempfile.TemporaryDirectory(prefix="mlpipe-monitor-") as tmp:
        path = Path(tmp) / f"training{_suffix(head)}"
        try:
            store.restore(digest, path)
            return TrainingData(digest, read_table(path))
        except MissingObject:
            return TrainingData(digest, None, missing)
        except CacheCorrupt as exc:
            return TrainingData(digest, None, f"the training data of {version.ref}: {exc}")
        except DataError as exc:
            return TrainingData(digest, None, f"the training data of {version.ref} cannot be "
                                              f"read: {exc}")
