"""A version's training data, restored from the content store by the hash train recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from mlpipe.models.registry import ModelVersion
from mlpipe.monitor.reference import training_data
from mlpipe.state.hashing import hash_file
from mlpipe.state.objects import ObjectStore

TABLE = pd.DataFrame({"x": [1.0, 2.5, 3.0], "city": ["a", "b", "a"], "y": [0, 1, 0]})


def version(meta: dict) -> ModelVersion:
    return ModelVersion("loans", 2, "d", meta, {}, {}, True, "2026-11-29T10:00:00+00:00")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_the_training_table_is_restored_whatever_its_format(tmp_path: Path,
                                                            suffix: str) -> None:
    source = tmp_path / f"train{suffix}"
    {".parquet": lambda p: TABLE.to_parquet(p, index=False),
     ".csv": lambda p: TABLE.to_csv(p, index=False),
     ".jsonl": lambda p: TABLE.to_json(p, orient="records", lines=True)}[suffix](source)
    store = ObjectStore(tmp_path / "objects")
    digest = hash_file(source)
    store.put_file(source, digest)
    found = training_data(store, version({"training_data_hash": digest}))
    assert found.reason == "" and found.digest == digest
    assert found.frame is not None and found.frame.to_dict("list") == TABLE.to_dict("list")


def test_a_missing_object_or_hash_says_why(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "objects")
    gone = training_data(store, version({"training_data_hash": "ab" * 16}))
    assert gone.frame is None
    assert gone.reason == (f"the training data of loans:2 (hash {'ab' * 6}) is not in the "
                           f"cache at {tmp_path / 'objects'}: `mlpipe run` (or `mlpipe pull`) "
                           "brings it back")
    unknown = training_data(store, version({}))
    assert unknown.frame is None and "records no training-data hash" in unknown.reason


def test_a_corrupt_object_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "train.csv"
    TABLE.to_csv(source, index=False)
    store = ObjectStore(tmp_path / "objects")
    digest = hash_file(source)
    store.put_file(source, digest)
    stored = store.path_of(digest)
    os.chmod(stored, 0o644)
    stored.write_text("x,city,y\n9,z,1\n")
    found = training_data(store, version({"training_data_hash": digest}))
    assert found.frame is None and "content does not match its hash" in found.reason
