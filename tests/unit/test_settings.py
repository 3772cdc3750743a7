"""spec.settings: the `remote:` and `executor:` top-level fields, and their errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlpipe.errors import SpecError
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import load
from mlpipe.spec.settings import ExecutorSpec, RemoteSpec

STAGES = "stages:\n  a: {kind: command, cmd: 'true'}\n"


def load_top(tmp_path: Path, top: str) -> PipelineSpec:
    path = tmp_path / "mlpipe.yaml"
    path.write_text(textwrap.dedent(top) + STAGES, encoding="utf-8")
    return load(path)


def test_defaults_are_no_remote_and_the_local_executor(tmp_path: Path) -> None:
    spec = load_top(tmp_path, "")
    assert spec.remote is None
    assert spec.executor == ExecutorSpec("local", None, None)


@pytest.mark.parametrize(("top", "expected"), [
    ("remote: /srv/cache\n", RemoteSpec("/srv/cache", {})),
    ("remote: {url: 's3://b/p', options: {endpoint_url: 'http://127.0.0.1:9'}}\n",
     RemoteSpec("s3://b/p", {"endpoint_url": "http://127.0.0.1:9"})),
])
def test_remote_as_url_or_mapping(tmp_path: Path, top: str, expected: RemoteSpec) -> None:
    assert load_top(tmp_path, top).remote == expected


@pytest.mark.parametrize(("top", "expected"), [
    ("executor: dask\n", ExecutorSpec("dask")),
    ("executor: {type: dask, scheduler: 'tcp://h:8786'}\n", ExecutorSpec("dask", "tcp://h:8786")),
    ("executor: {type: dask, workers: 2}\n", ExecutorSpec("dask", None, 2)),
    ("executor: {type: dask, scheduler: 'tcp://h:1', files: remote}\n",
     ExecutorSpec("dask", "tcp://h:1", None, "remote")),
    ("executor: {type: dask, files: shared}\n", ExecutorSpec("dask", None, None, "shared")),
])
def test_executor_as_name_or_mapping(tmp_path: Path, top: str, expected: ExecutorSpec) -> None:
    assert load_top(tmp_path, top).executor == expected


@pytest.mark.parametrize(("top", "message"), [
    ("remote: 3\n", "'remote' must be a URL"),
    ("remote: {url: ''}\n", "'remote.url' must be"),
    ("remote: {url: x, opts: {}}\n", "unknown field 'opts' in 'remote'"),
    ("remote: {url: x, options: [1]}\n", "'remote.options' must be a mapping"),
    ("executor: spark\n", "unknown executor 'spark'"),
    ("executor: {type: dask, workers: 0}\n", "'executor.workers' must be"),
    ("executor: {type: dask, workers: true}\n", "'executor.workers' must be"),
    ("executor: {type: dask, schedular: x}\n", "unknown field 'schedular'"),
    ("executor: {scheduler: 'tcp://h:1'}\n", "need 'type: dask'"),
    ("executor: {type: dask, files: nfs}\n",
     "unknown 'executor.files' 'nfs' (one of: shared, remote)"),
    ("executor: {type: dask, files: [remote]}\n", "unknown 'executor.files' ['remote']"),
    ("executor: {files: remote}\n", "'files' needs 'type: dask'"),
    ("executor: {type: local, files: shared}\n", "'files' needs 'type: dask'"),
    ("executor: {type: dask, file: remote}\n",
     "unknown field 'file' in 'executor' (type, scheduler, workers, files)"),
    ("remotes: x\n", "unknown top-level field 'remotes' (did you mean 'remote'?)"),
])
def test_bad_settings_name_the_file_and_line(tmp_path: Path, top: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_top(tmp_path, top)
    assert message in str(caught.value)
    assert f"{tmp_path / 'mlpipe.yaml'}:1" in str(caught.value)
