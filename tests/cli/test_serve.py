"""`mlpipe serve` and its app over real HTTP, and `mlpipe deploy status` (GitOps drift)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from conftest import Invoke, git_commit, git_init, write_tree

from mlpipe.errors import EXIT_STALE
from mlpipe.models.registry import ModelVersion, Registry
from mlpipe.serving.schema import InputError, check_records

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
META = {"task": "classification", "target": "species", "classes": [0, 1, 2],
        "features": [{"name": n, "dtype": "float64"} for n in FEATURES]}
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
MAX_BODY = 4096


@pytest.fixture(scope="module")
def iris() -> tuple[Any, Any, pd.DataFrame]:
    """Two different fitted iris pipelines and a small frame of rows."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = FEATURES
    models = [make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=300)).fit(x, y)
              for c in (1.0, 0.05)]
    return models[0], models[1], x.iloc[::15].reset_index(drop=True)


def register(root: Path, model: Any, gates_passed: bool = True,
             alias: str | None = "champion") -> ModelVersion:
    """Register `model` as the next version of `iris` in the project's registry."""
    path = root.parent / f"model-{id(model)}-{gates_passed}.joblib"
    joblib.dump(model, path)
    registry = Registry(root / ".mlpipe")
    version = registry.register("iris", path, META, {"accuracy": 0.9}, {"commit": "abc"},
                                gates_passed=gates_passed)
    if alias:
        registry.set_alias("iris", alias, version.version)
    return version


@contextlib.contextmanager
def in_thread(app: Any) -> Iterator[str]:
    """Serve `app` on a free port of 127.0.0.1 in a background thread; yields its URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


INFO = {"name": "iris", "version": 1, "digest": "d1", "lineage": {"commit": "abc"}}


@pytest.fixture(scope="module")
def server(iris: tuple) -> Iterator[str]:
    """The serving app, without a token; yields its URL."""
    from mlpipe.serving.app import create_app

    with in_thread(create_app(iris[0], META, INFO, max_body=MAX_BODY)) as url:
        yield url


def call(url: str, body: bytes | None = None, method: str | None = None) -> tuple[int, Any]:
    """(status, decoded JSON body) of one request."""
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post(url: str, payload: Any) -> tuple[int, Any]:
    return call(url, json.dumps(payload).encode())


def test_health_and_metadata(server: str) -> None:
    assert call(server + "/health") == (200, {"status": "ok"})
    status, meta = call(server + "/metadata")
    assert status == 200
    assert (meta["name"], meta["version"], meta["digest"]) == ("iris", 1, "d1")
    assert meta["lineage"] == {"commit": "abc"}
    assert meta["signature"]["inputs"] == META["features"]


def test_predict_matches_the_model(server: str, iris: tuple) -> None:
    model, _, rows = iris
    records = rows.to_dict("records")
    status, body = post(server + "/predict", {"records": records})
    assert status == 200
    assert body["predictions"] == model.predict(rows).tolist()
    proba = model.predict_proba(rows)
    assert [p["2"] for p in body["probabilities"]] == pytest.approx(proba[:, 2].tolist())
    assert post(server + "/predict", records)[1]["predictions"] == body["predictions"]


def test_invocations_accepts_mlflow_formats(server: str, iris: tuple) -> None:
    model, _, rows = iris
    expected = model.predict(rows).tolist()
    split = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
    assert post(server + "/invocations", {"dataframe_split": split}) == (
        200, {"predictions": expected})
    assert post(server + "/invocations", {"dataframe_records": rows.to_dict("records")}) == (
        200, {"predictions": expected})


@pytest.mark.parametrize(("path", "body", "status", "error"), [
    ("/predict", b"", 400, "empty request body"),
    ("/predict", b"{not json", 400, "malformed JSON"),
    ("/predict", b"NaN", 400, "not null"),
    ("/predict", b"Infinity", 400, "not a number"),
    ("/predict", b'"text"', 400, "must be a JSON object with 'records'"),
    ("/predict", b'{"rows": []}', 400, "no 'records' field"),
    ("/predict", b"[]", 422, "no records to predict"),
    ("/predict", b"[1, 2]", 422, "record 0 must be an object"),
    ("/predict", json.dumps([{k: v for k, v in ROW.items() if k != "petal_width"}]).encode(),
     422, "record 0: missing column(s) 'petal_width'"),
    ("/predict", json.dumps([ROW, {**ROW, "colour": "red"}]).encode(), 422,
     "record 1: unknown column(s) 'colour'"),
    ("/predict", json.dumps([{**ROW, "sepal_width": "wide"}]).encode(), 422,
     "column 'sepal_width' expects float, got a string"),
    ("/predict", json.dumps([{**ROW, "sepal_width": True}]).encode(), 422,
     "column 'sepal_width' expects float, got a boolean"),
    ("/predict", json.dumps([{**ROW, "sepal_width": None}]).encode(), 422,
     "the model could not predict these rows"),
    ("/predict", b"[" + b" " * MAX_BODY + b"]", 413, f"larger than the limit of {MAX_BODY}"),
    ("/invocations", b'{"instances": [], "inputs": []}', 400,
     "exactly one field, one of dataframe_split"),
    ("/invocations", b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', 400,
     "row 0 must be a list of 1 values"),
    ("/invocations", b"[1]", 400, "must be a JSON object with one of dataframe_split"),
    ("/predict", b"[" * 2000 + b"]" * 2000, 400, "nested too deeply"),
])
def test_bad_requests_get_a_named_4xx(server: str, path: str, body: bytes, status: int,
                                      error: str) -> None:
    got, answer = call(server + path, body, method="POST")
    assert got == status
    assert error in answer["error"]
    assert "Traceback" not in answer["error"]


def test_unknown_route_and_method_answer_json(server: str) -> None:
    assert call(server + "/nowhere")[0] == 404
    status, body = call(server + "/predict")
    assert status == 405 and "Method Not Allowed" in body["error"]


def test_no_bad_input_gives_a_500(server: str) -> None:
    junk = [b"\xff\xfe", b"null", b"{}", b'{"records": 5}', b'{"records": [[]]}',
            b'[{"sepal_length": {"x": 1}}]', json.dumps([{**ROW, "sepal_length": 1e400}]).encode(),
            b'{"dataframe_split": 3}', b'{"dataframe_records": [1]}']
    for path in ("/predict", "/invocations"):
        for body in junk:
            status, answer = call(server + path, body, method="POST")
            assert 400 <= status < 500, (path, body, answer)
            assert answer["error"]


def test_check_records_casts_to_the_signature() -> None:
    features = [{"name": "n", "dtype": "int64"}, {"name": "x", "dtype": "float64"},
                {"name": "s", "dtype": "object"}, {"name": "b", "dtype": "bool"}]
    frame = check_records([{"n": 1, "x": 2, "s": "a", "b": True},
                           {"n": 3.0, "x": None, "s": None, "b": False}], features)
    assert [str(frame[c].dtype) for c in ("n", "x", "b")] == ["int64", "float64", "bool"]
    assert frame["n"].tolist() == [1, 3] and frame["s"].tolist()[0] == "a"
    with pytest.raises(InputError, match=r"column 'n' expects int, got a number 1\.5"):
        check_records([{"n": 1.5, "x": 1, "s": "a", "b": True}], features)
    with pytest.raises(InputError, match="column 's' expects str"):
        check_records([{"n": 1, "x": 1, "s": 2, "b": True}], features)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlpipe_serve(project: Path, host: str, *args: str, env: dict[str, str] | None = None
                 ) -> Iterator[tuple[str, int, Path]]:
    """`mlpipe serve iris ARGS` in a subprocess; yields (URL on `host`, port, output log)."""
    port = _free_port()
    log = project.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mlpipe", "serve", "iris", "--port",
                                 str(port), *args], cwd=project, stdout=out,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                call(url + "/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "mlpipe serve did not start"
                time.sleep(0.1)
        yield url, port, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_mlpipe_serve_over_http(project: Path, iris: tuple) -> None:
    model, second, _ = iris
    register(project, model)
    v2 = register(project, second, alias=None)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with mlpipe_serve(project, "127.0.0.1", "--max-body", "100") as (url, _, _):
        meta = call(url + "/metadata")[1]
        assert (meta["version"], meta["digest"]) == (2, v2.digest)  # bare name: latest
        status, body = post(url + "/predict", [ROW])
        assert status == 200
        assert body["predictions"] == second.predict(pd.DataFrame([ROW])).tolist()
        expected = second.predict_proba(pd.DataFrame([ROW]))[0].tolist()
        assert list(body["probabilities"][0].values()) == pytest.approx(expected)
        assert call(url + "/predict", b"[" + b" " * 200 + b"]", method="POST")[0] == 413


def test_serve_refuses_failed_gates_and_unknown_models(project: Path, mlpipe: Invoke,
                                                       iris: tuple) -> None:
    register(project, iris[0], gates_passed=False)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("serve", "iris@champion")
    assert result.exit_code == 2
    assert "failed its evaluation gates; refusing to deploy it" in result.stderr
    result = mlpipe("serve", "wine")
    assert result.exit_code == 2 and "unknown model 'wine'" in result.stderr
    result = mlpipe("serve", "--deployment", "prod")
    assert result.exit_code == 2 and "no deployment recorded for stage 'prod'" in result.stderr


def _pipeline(port: int = 8000, model: str = "iris@champion") -> dict[str, str]:
    return {"mlpipe.yaml": f"stages:\n  prod:\n    kind: deploy\n    model: {model}\n"
                           f"    target: server\n    port: {port}\n"}


def _status(mlpipe: Invoke) -> tuple[int, dict]:
    result = mlpipe("deploy", "status", "--json")
    return result.exit_code, json.loads(result.stdout)


def test_deploy_status_in_sync_then_drifted(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    git_init(project)
    v1 = register(project, iris[0])
    write_tree(project, _pipeline())
    commit = git_commit(project)
    code, report = _status(mlpipe)
    assert code == EXIT_STALE and report["deployments"][0]["action"] == "create"
    assert mlpipe("run").exit_code == 0
    code, report = _status(mlpipe)
    assert (code, report["in_sync"], report["commit"]) == (0, True, commit)
    assert report["deployments"][0]["desired"]["digest"] == v1.digest
    text = mlpipe("deploy", "status")
    assert text.exit_code == 0 and "prod: in sync (iris:1 on 127.0.0.1:8000)" in text.stdout

    v2 = register(project, iris[1])  # the champion moves: the deployment is now stale
    code, report = _status(mlpipe)
    entry = report["deployments"][0]
    assert (code, entry["action"]) == (EXIT_STALE, "update")
    assert entry["changes"]["version"] == [1, 2]
    assert entry["changes"]["digest"] == [v1.digest, v2.digest]
    text = mlpipe("deploy", "status")
    assert text.exit_code == EXIT_STALE and "version 1 -> 2" in text.stdout
    assert mlpipe("run").exit_code == 0
    assert _status(mlpipe)[0] == 0


def test_deploy_status_reads_the_pipeline_at_head(project: Path, mlpipe: Invoke,
                                                  iris: tuple) -> None:
    git_init(project)
    register(project, iris[0])
    write_tree(project, _pipeline(port=8000))
    git_commit(project)
    assert mlpipe("run").exit_code == 0
    write_tree(project, _pipeline(port=9000))  # not committed: HEAD still declares 8000
    assert _status(mlpipe)[0] == 0
    git_commit(project, "move to port 9000")
    code, report = _status(mlpipe)
    assert code == EXIT_STALE and report["deployments"][0]["changes"] == {"port": [8000, 9000]}
    write_tree(project, {"mlpipe.yaml": "stages:\n  hello:\n    kind: command\n    cmd: echo hi\n"})
    git_commit(project, "remove the deployment")
    code, report = _status(mlpipe)
    assert code == EXIT_STALE and report["deployments"][0]["action"] == "remove"


def test_deploy_status_reports_an_unresolvable_reference(project: Path, mlpipe: Invoke,
                                                         iris: tuple) -> None:
    register(project, iris[0])
    write_tree(project, _pipeline(model="iris@staging"))
    result = mlpipe("deploy", "status")
    assert result.exit_code == EXIT_STALE
    assert "declared at work tree" in result.stdout
    assert "unknown alias 'staging'" in result.stdout


TOKEN = "s3cret-Token_42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def secured(iris: tuple) -> Iterator[str]:
    """The serving app behind the bearer token TOKEN; yields its URL."""
    from mlpipe.serving.app import create_app

    with in_thread(create_app(iris[0], META, INFO, max_body=MAX_BODY, token=TOKEN)) as url:
        yield url


def exchange(url: str, method: str = "GET", body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, lower-cased headers, decoded JSON body) of one request over http.client."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, parts.path, body=body, headers=headers or {})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, answer
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "body"), [
    ("/metadata", None),
    ("/predict", json.dumps([ROW]).encode()),
    ("/invocations", json.dumps({"dataframe_records": [ROW]}).encode()),
])
def test_token_guards_every_endpoint_but_health(secured: str, path: str,
                                                body: bytes | None) -> None:
    method = "GET" if body is None else "POST"
    assert exchange(secured + path, method, body, AUTH)[0] == 200
    assert exchange(secured + path, method, body, {"Authorization": f"bearer {TOKEN}"})[0] == 200
    refused = [({}, "missing Authorization header"),
               ({"Authorization": "Bearer wrong"}, "wrong bearer token"),
               ({"Authorization": f"Bearer {TOKEN}x"}, "wrong bearer token"),
               ({"Authorization": f"Bearer {TOKEN[:-1]}"}, "wrong bearer token"),
               ({"Authorization": f"Basic {TOKEN}"}, "wrong bearer token"),
               ({"Authorization": TOKEN}, "wrong bearer token"),
               ({"Authorization": "Bearer \u00e9t\u00e9"}, "wrong bearer token")]
    for headers, problem in refused:
        encoded = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
        status, got, answer = exchange(secured + path, method, body, encoded)
        assert (status, got["www-authenticate"]) == (401, "Bearer"), headers
        assert problem in answer["error"] and TOKEN not in answer["error"]
    status, _, answer = exchange(secured + "/health")
    assert (status, answer) == (200, {"status": "ok"})


def declare_body(url: str, length: int, headers: dict[str, str] | None = None
                 ) -> tuple[int, Any]:
    """POST /predict declaring a `length`-byte body but sending none: (status, JSON answer).

    An answer proves the server decided without waiting for the body (else: a timeout).
    """
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/predict")
        conn.putheader("Content-Length", str(length))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_token_is_checked_before_the_body_is_read(secured: str) -> None:
    status, answer = declare_body(secured, 10)
    assert status == 401 and "missing Authorization header" in answer["error"]
    status, answer = declare_body(secured, 1000 * MAX_BODY, AUTH)
    assert status == 413 and "larger than the limit" in answer["error"]


def test_body_limit_holds_without_a_content_length(server: str) -> None:
    chunks = iter([b"[" + b" " * 1000] * (MAX_BODY // 1000 + 2))
    parts = urllib.parse.urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/predict", body=chunks, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413 and resp.getheader("content-length") is not None
        assert f"larger than the limit of {MAX_BODY}" in json.loads(resp.read())["error"]
    finally:
        conn.close()


def test_a_declared_oversized_body_is_refused_before_it_is_sent(server: str) -> None:
    status, answer = declare_body(server, 1000 * MAX_BODY)
    assert status == 413 and "larger than the limit" in answer["error"]


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_serve_binds_loopback_and_takes_the_token_from_the_environment(
        project: Path, iris: tuple) -> None:
    register(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    with mlpipe_serve(project, "127.0.0.1", env={"MLPIPE_SERVE_TOKEN": TOKEN}) as (url, port,
                                                                                   log):
        assert _refused("127.0.0.2", port)  # another loopback address: not listened on
        assert exchange(url + "/predict", "POST", json.dumps([ROW]).encode())[0] == 401
        assert exchange(url + "/predict", "POST", json.dumps([ROW]).encode(), AUTH)[0] == 200
        assert exchange(url + "/metadata")[0] == 401
    output = log.read_text()
    assert "on http://127.0.0.1:" in output and "bearer token required" in output
    assert "POST /predict" in output and TOKEN not in output


def test_serve_passes_host_and_the_token_option_to_the_server(
        project: Path, mlpipe: Invoke, iris: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[Any, tuple[str, int]]] = []

    def run(app: Any, sock: socket.socket, workers: int) -> None:
        started.append((app, sock.getsockname()))
        sock.close()

    monkeypatch.setattr("mlpipe.serving.server.run_server", run)
    monkeypatch.setenv("MLPIPE_SERVE_TOKEN", "other")  # the option wins over the variable
    register(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    port = _free_port()
    result = mlpipe("serve", "iris", "--host", "0.0.0.0", "--port", str(port), "--token", TOKEN)
    assert result.exit_code == 0 and TOKEN not in result.output + result.stderr
    [(app, address)] = started
    assert address == ("0.0.0.0", port)
    with in_thread(app) as url:
        assert exchange(url + "/metadata", headers=AUTH)[0] == 200
        assert exchange(url + "/metadata", headers={"Authorization": "Bearer other"})[0] == 401


def test_serve_refuses_an_empty_token(project: Path, mlpipe: Invoke, iris: tuple,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlpipe.serving.server.run_server", lambda *args, **kwargs: None)
    register(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("serve", "iris", "--token", " ")
    assert result.exit_code == 2 and "the serving token is empty" in result.stderr


def test_the_cli_and_the_app_name_the_same_token_variable() -> None:
    from mlpipe.cli import serve as cli_serve
    from mlpipe.serving import app as serving_app

    assert cli_serve.TOKEN_ENV == serving_app.TOKEN_ENV == "MLPIPE_SERVE_TOKEN"
