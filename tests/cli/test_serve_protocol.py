"""The serving app speaks MLflow's scoring protocol (every body form, CSV, Parquet, probes,
MLflow's own client), refuses out-of-range numbers with a named 422, echoes request ids,
exposes metrics and OpenAPI, and stands up to hostile clients — all over real HTTP."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import Invoke, write_tree
from test_serve import FEATURES, INFO, META, ROW, in_thread, iris, mlpipe_serve
from test_serve import register as register_model

from mlpipe import __version__
from mlpipe.models.registry import Registry

assert iris  # the fixture, imported for this module's tests

TIMEOUT = 10


def send(url: str, body: bytes | None = None, content_type: str | None = "application/json",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, raw body) of one request."""
    import urllib.error
    import urllib.request

    all_headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    request = urllib.request.Request(url, data=body, headers=all_headers,
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def post_json(url: str, payload: Any) -> tuple[int, Any]:
    status, _, body = send(url, json.dumps(payload).encode())
    return status, json.loads(body)


@pytest.fixture(scope="module")
def imputing() -> Any:
    """An iris classifier that imputes missing values (so NaN rows can be predicted)."""
    from sklearn.datasets import load_iris
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = FEATURES
    return make_pipeline(SimpleImputer(), LogisticRegression(max_iter=300)).fit(x, y)


@pytest.fixture(scope="module")
def url(imputing: Any) -> Iterator[str]:
    from mlpipe.serving.app import create_app

    with in_thread(create_app(imputing, META, INFO, server_version=__version__)) as base:
        yield base


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    x = load_iris(as_frame=True).data
    x.columns = FEATURES
    return x.iloc[::10].reset_index(drop=True)


def test_every_mlflow_body_form_gives_the_models_predictions(url: str, imputing: Any,
                                                             rows: pd.DataFrame) -> None:
    expected = {"predictions": imputing.predict(rows).tolist()}
    records = rows.to_dict("records")
    columns = rows.to_dict("list")
    for payload in ({"dataframe_split": rows.to_dict(orient="split")},
                    {"dataframe_records": records}, {"instances": records},
                    {"inputs": records}, {"inputs": columns}, {"instances": columns},
                    {"dataframe_records": records, "params": {}},
                    {"inputs": columns, "params": None}):
        assert post_json(url + "/invocations", payload) == (200, expected), list(payload)
    one = post_json(url + "/invocations", {"inputs": ROW})
    assert one == (200, {"predictions": imputing.predict(pd.DataFrame([ROW])).tolist()})


def test_csv_and_parquet_bodies_by_content_type(url: str, imputing: Any,
                                                rows: pd.DataFrame) -> None:
    expected = imputing.predict(rows).tolist()
    csv = rows.to_csv(index=False).encode()
    for kind in ("text/csv", "text/csv; charset=utf-8"):
        status, _, body = send(url + "/invocations", csv, kind)
        assert (status, json.loads(body)) == (200, {"predictions": expected})
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    status, _, body = send(url + "/invocations", parquet.getvalue(),
                           "application/vnd.apache.parquet")
    assert (status, json.loads(body)) == (200, {"predictions": expected})
    with_gap = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,,1.4,0.2\n"
    status, _, body = send(url + "/invocations", with_gap, "text/csv")
    assert status == 200 and len(json.loads(body)["predictions"]) == 1


@pytest.mark.parametrize(("body", "content_type", "status", "error"), [
    (b"a,b\n1,2\n", "text/csv", 422, "missing column(s) 'sepal_length'"),
    (b"sepal_length,sepal_width,petal_length,petal_width\n5,wide,1,1\n", "text/csv", 422,
     "record 0: column 'sepal_width' expects float, got a string"),
    (b"sepal_length,sepal_width,petal_length,petal_width\n5,1e400,1,1\n", "text/csv", 422,
     "record 0: column 'sepal_width' expects float"),
    (b"not parquet", "application/vnd.apache.parquet", 400, "malformed Parquet"),
    (b"{}", "text/plain", 415, "unsupported Content-Type 'text/plain'"),
    (b"{}", "application/json; charset=latin-1", 415, "unsupported charset"),
    (json.dumps({"dataframe_records": [ROW], "params": {"alpha": 1}}).encode(),
     "application/json", 422, "this model takes no params (got alpha)"),
    (json.dumps({"dataframe_records": [ROW], "params": [1]}).encode(), "application/json",
     400, "'params' must be an object"),
    (json.dumps({"inputs": [[1, 2, 3, 4]]}).encode(), "application/json", 400,
     "this model's inputs are named columns"),
    (json.dumps({"inputs": {"sepal_length": [1, 2], "sepal_width": [1]}}).encode(),
     "application/json", 400, "all equally long"),
])
def test_bad_protocol_bodies_get_a_named_4xx(url: str, body: bytes, content_type: str,
                                             status: int, error: str) -> None:
    got, _, answer = send(url + "/invocations", body, content_type)
    assert got == status
    assert error in json.loads(answer)["error"]


def test_the_nan_token_is_a_missing_value_and_infinity_is_named(url: str,
                                                                imputing: Any) -> None:
    columns = json.dumps(FEATURES)
    text = f'{{"dataframe_split": {{"columns": {columns}, "data": [[5.1, NaN, 1.4, 0.2]]}}}}'
    text = text.encode()
    status, _, body = send(url + "/invocations", text)
    gap = pd.DataFrame([{**ROW, "sepal_width": math.nan}])
    assert (status, json.loads(body)) == (200, {"predictions": imputing.predict(gap).tolist()})
    status, _, body = send(url + "/invocations", text.replace(b"NaN", b"-Infinity"))
    assert status == 422
    assert json.loads(body)["error"] == ("record 0: column 'sepal_width' expects float, got a "
                                         "number -inf (a finite number is required)")


@pytest.fixture(scope="module")
def int_url(iris: tuple) -> Iterator[str]:
    """An app whose signature has int64, uint8 and float32 columns."""
    from mlpipe.serving.app import create_app

    meta = {"task": "regression", "features": [
        {"name": "n", "dtype": "int64"}, {"name": "u", "dtype": "uint8"},
        {"name": "f", "dtype": "float32"}]}
    with in_thread(create_app(iris[0], meta, INFO)) as base:
        yield base


@pytest.mark.parametrize(("literal", "column", "error"), [
    ("18446744073709551616", "n", "got a number 18446744073709551616, outside int64's range"),
    ("1e19", "n", "got a number 1e+19, outside int64's range"),
    ("-1e300", "n", "outside int64's range"),
    ("1" + "0" * 400, "n", "outside int64's range"),
    ("9" * 5000, "n", "got a 5000-digit number 9999"),
    ("256", "u", "outside uint8's range [0, 255]"),
    ("-1", "u", "outside uint8's range"),
    ("1e39", "f", "outside float32's range"),
    ("1" + "0" * 400, "f", "outside float32's range"),
])
def test_out_of_range_numbers_are_a_named_422_over_http(int_url: str, literal: str,
                                                       column: str, error: str) -> None:
    values = {"n": "1", "u": "1", "f": "1.5", column: literal}
    second = ", ".join(f'"{k}": {v}' for k, v in values.items())
    body = f'{{"dataframe_records": [{{"n": 1, "u": 2, "f": 0.5}}, {{{second}}}]}}'.encode()
    for path in ("/invocations", "/predict"):
        payload = body if path == "/invocations" else body[len(b'{"dataframe_records": '):-1]
        status, _, answer = send(int_url + path, payload)
        assert status == 422, (path, answer)
        message = json.loads(answer)["error"]
        assert message.startswith(f"record 1: column '{column}' expects "), message
        assert error in message


def test_a_400_digit_integer_in_a_float_column_is_a_422(url: str) -> None:
    body = json.dumps([{**ROW, "petal_width": 10**400}]).encode()
    status, _, answer = send(url + "/predict", body)
    assert status == 422
    assert "record 0: column 'petal_width' expects float" in json.loads(answer)["error"]


def test_probes_version_metrics_openapi_and_docs(url: str) -> None:
    for probe in ("/ping", "/health"):
        status, _, body = send(url + probe)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert send(url + "/version")[::2] == (200, __version__.encode())
    post_json(url + "/invocations", {"dataframe_records": [ROW]})
    post_json(url + "/invocations", {"dataframe_records": [{"x": 1}]})
    status, headers, body = send(url + "/metrics")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'mlpipe_model_info{name="iris",version="1",digest="d1"} 1' in text
    assert 'mlpipe_requests_total{path="/invocations",status="200"}' in text
    assert 'mlpipe_requests_total{path="/invocations",status="422"}' in text
    assert 'mlpipe_request_seconds_bucket{path="/invocations",le="+Inf"}' in text
    assert 'mlpipe_request_errors_total{path="/invocations"} 0' in text
    status, _, body = send(url + "/openapi.json")
    document = json.loads(body)
    assert status == 200 and document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {"/invocations", "/predict", "/ping", "/metrics"}
    record = document["components"]["schemas"]["Record"]
    assert list(record["properties"]) == FEATURES
    assert record["properties"]["sepal_length"]["type"] == "number"
    status, headers, body = send(url + "/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert all(name.encode() in body for name in FEATURES)


def test_every_answer_echoes_a_request_id(url: str) -> None:
    given = {"X-Request-ID": "client-7"}
    for path, body in (("/health", None), ("/predict", json.dumps([ROW]).encode()),
                       ("/predict", b"{bad"), ("/nowhere", None), ("/metrics", None)):
        assert send(url + path, body, headers=given)[1]["x-request-id"] == "client-7", path
        fresh = send(url + path, body)[1]["x-request-id"]
        assert len(fresh) == 32 and fresh != send(url + path, body)[1]["x-request-id"]
    bad_id = {"X-Request-ID": "has spaces"}
    assert send(url + "/health", headers=bad_id)[1]["x-request-id"] != "has spaces"


def test_probabilities_only_when_asked(url: str) -> None:
    with_them = post_json(url + "/predict", [ROW])[1]
    assert set(with_them) == {"predictions", "classes", "probabilities"}
    status, _, body = send(url + "/predict?probabilities=false", json.dumps([ROW]).encode())
    assert (status, set(json.loads(body))) == (200, {"predictions"})
    assert send(url + "/predict?probabilities=maybe", json.dumps([ROW]).encode())[0] == 400


def test_mlflows_own_client_works_unchanged(url: str, imputing: Any,
                                            rows: pd.DataFrame) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    host, port = url.removeprefix("http://").split(":")
    client = ScoringServerClient(host, int(port))
    client.wait_server_ready(timeout=10)
    assert client.get_version() == __version__
    with_gap = rows.copy()
    with_gap.loc[1, "petal_length"] = math.nan  # the client writes the NaN token
    for params in (None, {}):
        answer = client.invoke(with_gap, params=params)
        got = answer.get_predictions(predictions_format="ndarray").tolist()
        assert got == imputing.predict(with_gap).tolist()


def raw_exchange(url: str, request: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes, then read until the server closes the connection (or `wait` passes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(("framing", "said"), [
    (b"Transfer-Encoding: chunked\r\nContent-Length: 20\r\n",
     b"ambiguous request framing: both Transfer-Encoding and Content-Length are set"),
    (b"Transfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n", b"Invalid HTTP request"),
    (b"Content-Length: 20\r\nContent-Length: 21\r\n", b"Invalid HTTP request"),  # by h11
])
def test_ambiguous_framing_is_a_400_at_once(url: str, framing: bytes, said: bytes) -> None:
    started = time.monotonic()
    answer = raw_exchange(url, b"POST /predict HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n")
    assert time.monotonic() - started < 4  # not left waiting for a body until a timeout
    assert answer.startswith(b"HTTP/1.1 400") and said in answer


def test_slow_predictions_time_out_with_a_504_and_probes_stay_quick(iris: tuple) -> None:
    from mlpipe.serving.app import create_app

    class Slow:
        def predict(self, frame: pd.DataFrame) -> list[int]:
            time.sleep(1.5)
            return [0] * len(frame)

    meta = {**META, "task": "regression"}
    with in_thread(create_app(Slow(), meta, INFO, timeout=0.5)) as base:
        import threading

        answers: list[Any] = []
        worker = threading.Thread(target=lambda: answers.append(
            send(base + "/predict", json.dumps([ROW]).encode())))
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert send(base + "/health")[0] == 200
        assert time.monotonic() - started < 0.4  # while the prediction runs in its thread
        worker.join(timeout=TIMEOUT)
        status, _, body = answers[0]
        assert status == 504 and "longer than the limit of 0.5s" in json.loads(body)["error"]


def test_a_client_hanging_up_mid_body_is_one_log_line(project: Path, iris: tuple) -> None:
    register_model(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with mlpipe_serve(project, "127.0.0.1") as (base, _, log):
        for _ in range(3):
            raw_exchange(base, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 1000\r\n\r\n[{\"a\"", wait=0.3)
        deadline = time.monotonic() + TIMEOUT
        while log.read_text().count("hung up") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert send(base + "/health")[0] == 200
        output = log.read_text()
    assert output.count("hung up before sending the whole body of POST /predict") == 3
    assert "Traceback" not in output


def test_a_busy_port_is_one_line_and_exit_1(project: Path, mlpipe: Invoke,
                                            iris: tuple) -> None:
    register_model(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "mlpipe", "serve", "iris", "--port",
                                 str(port)], cwd=project, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    assert result.stderr == (f"mlpipe: error: cannot listen on 127.0.0.1:{port}: the port is "
                             f"already in use; choose another --port or stop what uses it\n")
    assert result.stdout == ""


def test_metadata_shows_no_absolute_path(project: Path, iris: tuple) -> None:
    import joblib

    model_file = project.parent / "m.joblib"
    joblib.dump(iris[0], model_file)
    lineage = {"git_commit": "abc", "root": str(project), "stage": "register",
               "inputs": {"model": {"path": "out/model.joblib", "hash": "h"}}}
    Registry(project / ".mlpipe").register("iris", model_file, META, {}, lineage,
                                           gates_passed=True)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with mlpipe_serve(project, "127.0.0.1") as (base, _, _):
        status, _, body = send(base + "/metadata")
    assert status == 200 and str(project).encode() not in body
    assert str(project.parent).encode() not in body and b"/tmp" not in body
    assert json.loads(body)["lineage"]["stage"] == "register"


def test_workers_serve_in_several_processes_and_stop_together(project: Path,
                                                              iris: tuple) -> None:
    register_model(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with mlpipe_serve(project, "127.0.0.1", "--workers", "2") as (base, port, log):
        for _ in range(6):
            assert post_json(base + "/invocations", {"inputs": [ROW]})[0] == 200
        assert "2 processes" in log.read_text()
        children = subprocess.run(["pgrep", "-f", "--", f"--port {port}"],
                                  capture_output=True, text=True).stdout.split()
        assert len(children) == 3  # the parent and its two workers
    deadline = time.monotonic() + TIMEOUT
    pattern = ["pgrep", "-f", "--", f"--port {port}"]
    while subprocess.run(pattern, capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "a worker outlived the server"
        time.sleep(0.1)
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # nothing listens on the port any more


def test_workers_refuse_the_prediction_log(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    register_model(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("serve", "iris", "--workers", "2", "--log-predictions", "logs")
    assert result.exit_code == 2 and "needs a single process" in result.stderr


def test_workers_stop_when_the_parent_is_killed(project: Path, iris: tuple) -> None:
    register_model(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with mlpipe_serve(project, "127.0.0.1", "--workers", "2") as (base, port, _):
        assert post_json(base + "/invocations", {"inputs": [ROW]})[0] == 200
        pattern = ["pgrep", "-f", "--", f"--port {port}"]
        oldest = subprocess.run([*pattern[:2], "-o", *pattern[2:]], capture_output=True,
                                text=True).stdout.split()
        os.kill(int(oldest[0]), signal.SIGKILL)  # the parent alone, as a crash would
        deadline = time.monotonic() + TIMEOUT
        while subprocess.run(pattern, capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "a worker outlived its killed parent"
            time.sleep(0.1)
