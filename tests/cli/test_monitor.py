"""`mlpipe serve --log-predictions` and `mlpipe monitor` over real HTTP, on the drift example.

The drift example (examples/pipelines/drift, which ends with evaluate and register) runs, and
its champion is served twice with a token: once with loan applications like the ones it was
trained on, once with a batch whose incomes moved up one standard deviation. `mlpipe monitor`
must pass the first and flag `income` in the second.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Invoke

from mlpipe.models.registry import Registry
from mlpipe.serving.predlog import FILE_RE

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/pipelines/drift"
TOKEN = "monitor-Token_7f3a"
MAX_BYTES = 8000
STAGES = ("batches", "profile", "check", "ingest", "train", "evaluate", "register")


def _batches() -> Any:
    """The example's own data generator, imported from its path."""
    spec = importlib.util.spec_from_file_location("make_batches", EXAMPLE / "make_batches.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Served:
    """What one serving session was sent and answered.

    Attributes:
        logs: Its --log-predictions directory.
        sent: (request id, records, answer) per answered request, in order.
        labels: (request id, row, true label) per record.
    """

    logs: Path
    sent: tuple[tuple[str, list[dict[str, Any]], dict[str, Any]], ...]
    labels: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class World:
    """The example pipeline, run, and two served batches."""

    root: Path
    ok: Served
    shifted: Served


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, payload: Any, headers: dict[str, str]) -> tuple[int, str | None, Any]:
    """(status, X-Request-ID of the answer, decoded body) of one authorized POST."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.headers.get("X-Request-ID"), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("X-Request-ID"), json.loads(exc.read())


@contextlib.contextmanager
def serving(root: Path, logs: Path) -> Iterator[str]:
    """`mlpipe serve loans@champion --log-predictions LOGS` with a token; yields its URL and
    stops it (SIGTERM) afterwards, which flushes the log."""
    port = _free_port()
    out = (root.parent / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlpipe", "serve", "loans@champion", "--port", str(port),
         "--log-predictions", str(logs), "--log-max-bytes", str(MAX_BYTES)], cwd=root,
        stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "MLPIPE_SERVE_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (root.parent / f"serve-{port}.log").read_text()
            try:
                urllib.request.urlopen(url + "/health", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mlpipe serve did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) is not None
        out.close()


def _serve_batch(root: Path, logs: Path, shift: float, seed: int) -> Served:
    """Send 300 applications in requests of 10 records (the first with its own request id,
    one through /invocations) and a malformed request; the labels are the true outcomes."""
    make = _batches()
    rows = make.applications(random.Random(seed), 300, shift)
    names = make.COLUMNS[:-1]
    sent, labels = [], []
    with serving(root, logs) as url:
        for start in range(0, len(rows), 10):
            chunk = rows[start:start + 10]
            records = [dict(zip(names, row[:-1], strict=True)) for row in chunk]
            own = {"X-Request-ID": f"client-{seed}-0"} if start == 0 else {}
            if start == 10:
                status, rid, answer = _post(url + "/invocations",
                                            {"dataframe_records": records}, own)
            else:
                status, rid, answer = _post(url + "/predict", {"records": records}, own)
            assert status == 200 and rid, answer
            sent.append((rid, records, answer))
            labels += [(rid, i, row[-1]) for i, row in enumerate(chunk)]
        status, _, _ = _post(url + "/predict", {"records": [{"age": "old"}]}, {})
        assert status == 422
    return Served(logs, tuple(sent), tuple(labels))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The drift example (it ends with evaluate and register), run, then served twice."""
    root = tmp_path_factory.mktemp("monitor") / "loans"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(
        ".mlpipe", "out", "mlpipe.lock", "data"))
    run = subprocess.run([sys.executable, "-m", "mlpipe", "run"], cwd=root, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    ok = _serve_batch(root, root / "logs" / "ok", 0.0, 103)  # every p-value above 0.5
    shifted = _serve_batch(root, root / "logs" / "shifted", 1.0, 200)
    return World(root, ok, shifted)


def _lines(logs: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(logs.iterdir())
            for line in path.read_text().splitlines()]


def _monitor(mlpipe: Invoke, root: Path, *args: str) -> Any:
    return mlpipe("monitor", "loans@champion", "-f", str(root / "mlpipe.yaml"), *args)


def _write_labels(path: Path, labels: tuple[tuple[str, int, int], ...], flip: bool = False
                  ) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["request_id", "row", "defaulted"])
        writer.writerows((rid, row, 1 - y if flip else y) for rid, row, y in labels)
    return path


def test_each_answered_request_is_logged_with_inputs_and_predictions(world: World) -> None:
    lines = _lines(world.ok.logs)
    assert [line["request_id"] for line in lines] == [rid for rid, _, _ in world.ok.sent]
    assert lines[0]["request_id"] == "client-103-0"  # the client's own id is kept
    assert re.fullmatch(r"[0-9a-f]{32}", lines[2]["request_id"])
    for line, (_, records, answer) in zip(lines, world.ok.sent, strict=True):
        assert line["records"] == records and line["predictions"] == answer["predictions"]
        assert (line["model"], line["version"]) == ("loans", 1)
        assert len(line["probabilities"]) == len(records) and line["classes"] == [0, 1]
    assert [line["endpoint"] for line in lines[:3]] == ["/predict", "/invocations", "/predict"]
    assert lines[2]["probabilities"] == world.ok.sent[2][2]["probabilities"]


def test_the_token_and_headers_never_reach_the_files(world: World) -> None:
    for logs in (world.ok.logs, world.shifted.logs):
        for path in logs.iterdir():
            data = path.read_bytes()
            assert TOKEN.encode() not in data
            assert b"uthorization" not in data and b"Bearer" not in data


def test_log_files_rotate_by_size(world: World) -> None:
    files = sorted(world.ok.logs.iterdir())
    assert len(files) >= 3
    assert all(FILE_RE.match(p.name) for p in files)
    assert all(p.stat().st_size <= MAX_BYTES for p in files)


def test_monitor_passes_requests_like_the_training_data(world: World, mlpipe: Invoke) -> None:
    result = _monitor(mlpipe, world.root, "--logs", str(world.ok.logs))
    assert result.exit_code == 0, result.output
    assert "loans@champion (loans:1): 300 records in 30 requests" in result.stdout
    assert result.stdout.rstrip().endswith("ok: no drift or degradation")


def test_monitor_flags_the_shifted_batch_naming_the_column(world: World,
                                                           mlpipe: Invoke) -> None:
    text = _monitor(mlpipe, world.root, "--logs", str(world.shifted.logs))
    assert text.exit_code == 3
    assert re.search(r"^  income +ks +p<1e-06 +0\.05 +DRIFT$", text.stdout, re.MULTILINE)
    assert re.search(r"^  age +ks +p=0\.\d+ +0\.05 +ok$", text.stdout, re.MULTILINE)
    assert text.stdout.rstrip().endswith("ALARM: drift in income")
    report = json.loads(_monitor(mlpipe, world.root, "--logs", str(world.shifted.logs),
                                 "--json").stdout)
    assert (report["alarm"], report["drift"]["drifted"]) == (True, ["income"])
    assert (report["records"], report["requests"], report["version"]) == (300, 30, "loans:1")
    assert report["drift"]["reference_rows"] == 300  # ingest.train: 75% of the 400-row batch
    assert {c["column"] for c in report["drift"]["checks"]} == {
        "age", "income", "region", "tenure_months"}


def test_labels_give_live_metrics_and_flag_a_degraded_model(world: World, mlpipe: Invoke,
                                                            tmp_path: Path) -> None:
    labels = _write_labels(tmp_path / "labels.csv", world.ok.labels)
    good = _monitor(mlpipe, world.root, "--logs", str(world.ok.logs), "--labels", str(labels),
                    "--json")
    assert good.exit_code == 0, good.output
    quality = json.loads(good.stdout)["quality"]
    assert (quality["labelled"], quality["unmatched"], quality["degraded"]) == (300, 0, [])
    recorded = Registry(world.root / ".mlpipe").get("loans@champion").metrics
    judged = [c for c in quality["checks"] if c["judged"]]
    assert [c["name"] for c in judged] == ["accuracy"]
    assert judged[0]["recorded"] == recorded["accuracy"]
    flipped = _write_labels(tmp_path / "flipped.csv", world.ok.labels, flip=True)
    bad = _monitor(mlpipe, world.root, "--logs", str(world.ok.logs), "--labels", str(flipped))
    assert bad.exit_code == 3
    assert re.search(r"^  accuracy +0\.\d+ +0\.\d+ +0\.\d+ +0\.05 +DEGRADED$", bad.stdout,
                     re.MULTILINE)
    assert bad.stdout.rstrip().endswith("ALARM: degraded: accuracy")


def test_a_cut_short_last_line_is_tolerated(world: World, mlpipe: Invoke,
                                            tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(world.ok.logs, logs)
    last = sorted(logs.iterdir())[-1]
    whole = last.read_bytes().splitlines(keepends=True)[0]
    with last.open("ab") as handle:
        handle.write(whole[: len(whole) // 2])
    result = _monitor(mlpipe, world.root, "--logs", str(logs), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["records"], report["partial_lines"]) == (300, 1)


@pytest.mark.parametrize(("args", "message"), [
    (("--logs", "{root}/nowhere"), r"no prediction logs: \S+/nowhere is not a directory"),
    (("--logs", "{root}/out"), r"no logged requests for loans@champion \(loans:1\) in \S+/out"),
    (("--logs", "{logs}", "--since", "soon"), r"--since 'soon': not an ISO time"),
    (("--logs", "{logs}", "--labels", "{root}/data/batch.csv"),
     r"--labels \S+batch.csv: no id column 'request_id' \(columns: age, income, region, "
     r"tenure_months, defaulted\); name it with --id-column"),
    (("--logs", "{logs}", "--labels", "{root}/data/batch.csv", "--metric", "acuracy"),
     r"--metric acuracy: loans:1 has no live and recorded 'acuracy' to compare "
     r"\(did you mean 'accuracy'\?\)"),
])
def test_bad_input_is_one_line_and_exit_2(world: World, mlpipe: Invoke, args: tuple[str, ...],
                                          message: str) -> None:
    filled = [a.format(root=world.root, logs=world.ok.logs) for a in args]
    result = _monitor(mlpipe, world.root, *filled)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr


def test_an_unknown_model_is_one_line_and_exit_2(world: World, mlpipe: Invoke) -> None:
    result = mlpipe("monitor", "lones", "-f", str(world.root / "mlpipe.yaml"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("mlpipe: error: unknown model 'lones' "
                                     "(did you mean 'loans'?)")


def _copy(world: World, tmp_path: Path, seed: int | None = None, gate: float | None = None
          ) -> Path:
    """A copy of the run project (with its registry and cache), maybe with new data or gate."""
    root = tmp_path / "loans"
    shutil.copytree(world.root, root, ignore=shutil.ignore_patterns("logs"))
    text = (root / "mlpipe.yaml").read_text()
    if seed is not None:
        text = text.replace("batch: {shift: 0.0, seed: 7}", f"batch: {{shift: 0.0, seed: {seed}}}")
    if gate is not None:
        text = text.replace("gate: 0.6", f"gate: {gate}")
    (root / "mlpipe.yaml").write_text(text)
    return root


def _trigger(mlpipe: Invoke, root: Path, logs: Path) -> tuple[int, dict[str, Any]]:
    result = _monitor(mlpipe, root, "--logs", str(logs), "--trigger", "--json")
    return result.exit_code, json.loads(result.stdout)


def test_trigger_retrains_and_the_new_model_replaces_the_champion(
        world: World, mlpipe: Invoke, tmp_path: Path) -> None:
    root = _copy(world, tmp_path, seed=8)  # new data has arrived
    code, report = _trigger(mlpipe, root, world.shifted.logs)
    assert report["alarm"] and report["drift"]["drifted"] == ["income"]
    assert report["trigger"]["statuses"] == {"ran": len(STAGES)}
    assert (code, report["trigger"]["before"], report["trigger"]["after"]) == (
        0, "loans:1", "loans:2")
    assert Registry(root / ".mlpipe").get("loans@champion").version == 2


def test_trigger_without_new_data_leaves_the_alarm_standing(world: World, mlpipe: Invoke,
                                                            tmp_path: Path) -> None:
    root = _copy(world, tmp_path)
    result = _monitor(mlpipe, root, "--logs", str(world.shifted.logs), "--trigger")
    assert result.exit_code == 3
    assert ("the pipeline ran (6 cached, 1 ran) but loans@champion is still loans:1: "
            "the alarm stands") in result.stdout


def test_trigger_stopped_by_the_evaluation_gate_exits_1(world: World, mlpipe: Invoke,
                                                        tmp_path: Path) -> None:
    root = _copy(world, tmp_path, seed=8, gate=0.99)
    code, report = _trigger(mlpipe, root, world.shifted.logs)
    assert code == 1
    assert report["trigger"]["failed"] == ["evaluate"]
    assert report["trigger"]["statuses"] == {"ran": 5, "failed": 1, "skipped": 1}
    assert Registry(root / ".mlpipe").get("loans@champion").version == 1


def test_trigger_does_nothing_without_an_alarm(world: World, mlpipe: Invoke,
                                               tmp_path: Path) -> None:
    root = _copy(world, tmp_path, seed=8)  # a run would retrain: it must not happen
    lock = (root / "mlpipe.lock").read_text()
    result = _monitor(mlpipe, root, "--logs", str(world.ok.logs), "--trigger")
    assert result.exit_code == 0
    assert "no drift or degradation: the pipeline was not run" in result.stdout
    assert (root / "mlpipe.lock").read_text() == lock
    assert len(Registry(root / ".mlpipe").list()) == 1


def test_serve_refuses_an_unusable_log_directory_in_one_line(world: World) -> None:
    inside_a_file = world.root / "mlpipe.yaml" / "logs"
    done = subprocess.run([sys.executable, "-m", "mlpipe", "serve", "loans@champion",
                           "--log-predictions", str(inside_a_file), "--port", str(_free_port())],
                          cwd=world.root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"mlpipe: error: cannot create the prediction log directory "
                                   f"{inside_a_file} (Not a directory); choose another "
                                   "--log-predictions directory")
