"""A bounded load test of `mlpipe serve`: a fixed number of requests, ~80% valid, ~20% malformed.

    python benchmarks/load_serve.py [--requests 2000] [--threads 4] [--seed 0]
                                    [--log-predictions]

It builds a small iris model in a temporary project, registers it, starts `mlpipe serve` on a
free loopback port with a bearer token, sends the requests from a few threads over keep-alive
connections (http.client), stops the server, and prints throughput, p50/p99 latency and the
answers counted by status. One request in five is malformed, cycling through bad JSON, a
missing column, a wrong type, a body over the limit, JSON nested too deeply, a wrong token and
no token; each has the one 4xx it must get. Exits 1 if any answer was a 5xx, any request got
another status than its expected one, or the server died. `--log-predictions` starts the
server with `--log-predictions DIR` (a temporary directory) and also prints how many requests
were logged, to measure what logging costs.

The functions are importable: tests/faults/test_serve_load.py runs the same code with fewer
requests. This lives in benchmarks/, not in the mlpipe package: it is a development tool, so
it stays out of the installed wheel and out of the package's import contracts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
META = {"task": "classification", "target": "species", "classes": [0, 1, 2],
        "features": [{"name": n, "dtype": "float64"} for n in FEATURES]}
MALFORMED = ("bad_json", "missing_column", "wrong_type", "huge_body", "deep_nesting",
             "wrong_auth", "no_auth")
EXPECTED = {"bad_json": 400, "missing_column": 422, "wrong_type": 422, "huge_body": 413,
            "deep_nesting": 400, "wrong_auth": 401, "no_auth": 401}
VALID = ("predict_records", "predict_list", "invocations_split", "invocations_records")
DEFAULT_MAX_BODY = 16 * 1024


@dataclass(frozen=True)
class Probe:
    """One request to send and the status it must get.

    Attributes:
        kind: What the request tests (one of VALID or MALFORMED).
        path: /predict or /invocations.
        body: The request body.
        headers: Request headers (including Authorization, or not).
        expected: The HTTP status the server must answer with.
    """

    kind: str
    path: str
    body: bytes
    headers: dict[str, str]
    expected: int


@dataclass(frozen=True)
class Answer:
    """What one request got: status 0 means no HTTP answer (`error` says why)."""

    kind: str
    expected: int
    status: int
    latency_s: float
    error: str = ""


@dataclass(frozen=True)
class LoadReport:
    """The outcome of a load run.

    Attributes:
        requests: Requests sent.
        wall_s: Wall time of sending them all.
        p50_ms: Median latency.
        p99_ms: 99th-percentile latency.
        by_status: Answers counted by HTTP status (0: no answer).
        by_kind: For each request kind, its answers counted by status.
        mismatches: Answers whose status differs from the expected one.
        server_alive: Whether the server still ran and answered /health afterwards.
        log: The server's output (stdout and stderr).
        logged: Requests in the prediction log files (None when the server did not log).
    """

    requests: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    by_status: Counter[int]
    by_kind: dict[str, Counter[int]]
    mismatches: list[Answer]
    server_alive: bool
    log: str = field(default="", repr=False)
    logged: int | None = None

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.requests / self.wall_s if self.wall_s else 0.0

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(n for status, n in self.by_status.items() if status >= 500)

    @property
    def ok(self) -> bool:
        """No 5xx, every request got its expected status, and the server survived."""
        return self.server_alive and not self.server_errors and not self.mismatches


def _rows(rng: random.Random, count: int) -> list[dict[str, float]]:
    """Plausible iris rows."""
    centre = {"sepal_length": 5.8, "sepal_width": 3.0, "petal_length": 3.8, "petal_width": 1.2}
    return [{k: round(v + rng.uniform(-1.0, 1.0), 2) for k, v in centre.items()}
            for _ in range(count)]


def _valid(kind: str, rng: random.Random, auth: dict[str, str]) -> Probe:
    rows = _rows(rng, rng.randint(1, 5))
    payload: Any
    if kind == "predict_records":
        path, payload = "/predict", {"records": rows}
    elif kind == "predict_list":
        path, payload = "/predict", rows
    elif kind == "invocations_split":
        path, payload = "/invocations", {"dataframe_split": {
            "columns": FEATURES, "data": [[r[c] for c in FEATURES] for r in rows]}}
    else:
        path, payload = "/invocations", {"dataframe_records": rows}
    return Probe(kind, path, json.dumps(payload).encode(), auth, 200)


def _malformed(kind: str, rng: random.Random, auth: dict[str, str], max_body: int) -> Probe:
    row = _rows(rng, 1)[0]
    headers = auth
    if kind == "bad_json":
        body = json.dumps({"records": [row]}).encode()[:-3]
    elif kind == "missing_column":
        body = json.dumps([{k: v for k, v in row.items() if k != "petal_width"}]).encode()
    elif kind == "wrong_type":
        body = json.dumps([{**row, "sepal_width": "wide"}]).encode()
    elif kind == "huge_body":
        body = json.dumps({"records": [row] * (4 * max_body // 80 + 1)}).encode()
    elif kind == "deep_nesting":
        depth = min(max_body // 2 - 1, 5000)
        body = b"[" * depth + b"]" * depth
    else:
        body = json.dumps([row]).encode()
        headers = {"Authorization": "Bearer not-the-token"} if kind == "wrong_auth" else {}
    return Probe(kind, "/predict", body, headers, EXPECTED[kind])


def probes(count: int, token: str, seed: int = 0, max_body: int = DEFAULT_MAX_BODY
           ) -> list[Probe]:
    """`count` requests in a seeded random order: every fifth one malformed.

    The malformed ones cycle through MALFORMED, so each kind is sent about equally often.
    """
    rng = random.Random(seed)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    made = []
    for i in range(count):
        if i % 5 == 4:
            made.append(_malformed(MALFORMED[(i // 5) % len(MALFORMED)], rng, auth, max_body))
        else:
            made.append(_valid(VALID[i % len(VALID)], rng, auth))
    rng.shuffle(made)
    return made


def _send(conn: http.client.HTTPConnection, probe: Probe) -> Answer:
    started = time.perf_counter()
    try:
        conn.request("POST", probe.path, body=probe.body, headers=probe.headers)
        resp = conn.getresponse()
        resp.read()
        status, error = resp.status, ""
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        status, error = 0, f"{type(exc).__name__}: {exc}"
    return Answer(probe.kind, probe.expected, status, time.perf_counter() - started, error)


def send_all(port: int, batch: list[Probe], threads: int) -> tuple[list[Answer], float]:
    """Send every probe to 127.0.0.1:`port` from `threads` keep-alive connections.

    Returns:
        The answers (in no particular order) and the wall time in seconds.
    """
    answers: list[Answer] = []
    lock = threading.Lock()
    queue = iter(batch)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                with lock:
                    probe = next(queue, None)
                if probe is None:
                    return
                answer = _send(conn, probe)
                with lock:
                    answers.append(answer)
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return answers, time.perf_counter() - started


def summarize(answers: list[Answer], wall_s: float, server_alive: bool, log: str = "",
              logged: int | None = None) -> LoadReport:
    """Counts, latency percentiles and mismatches of a run's answers."""
    latencies = sorted(a.latency_s * 1000 for a in answers) or [0.0]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(
        latencies) > 1 else latencies * 99
    by_kind: dict[str, Counter[int]] = {}
    for answer in answers:
        by_kind.setdefault(answer.kind, Counter())[answer.status] += 1
    return LoadReport(
        requests=len(answers), wall_s=wall_s, p50_ms=cuts[49], p99_ms=cuts[98],
        by_status=Counter(a.status for a in answers), by_kind=by_kind,
        mismatches=[a for a in answers if a.status != a.expected], server_alive=server_alive,
        log=log, logged=logged)


def build_project(root: Path) -> None:
    """A project whose registry holds a small iris classifier as `iris:1`."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlpipe.models.registry import Registry

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = FEATURES
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y)
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlpipe.yaml").write_text("stages: {}\n", encoding="utf-8")
    joblib.dump(model, root / "iris.joblib")
    Registry(root / ".mlpipe").register("iris", root / "iris.joblib", META, {}, {})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def start_server(root: Path, port: int, token: str, max_body: int, log: Path,
                 predictions: Path | None = None) -> subprocess.Popen[bytes]:
    """`mlpipe serve iris` on 127.0.0.1:`port`, its output going to `log`; waits for /health.

    With `predictions`, the server logs its answers there (`--log-predictions`).

    Raises:
        RuntimeError: The server exited or did not answer within 60 seconds.
    """
    env = {**os.environ, "MLPIPE_SERVE_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    logging = ["--log-predictions", str(predictions)] if predictions is not None else []
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlpipe", "serve", "iris", "--port", str(port),
             "--max-body", str(max_body), *logging], cwd=root, env=env, stdout=out,
            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _healthy(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"mlpipe serve did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return proc


def logged_requests(directory: Path) -> int:
    """Requests in the prediction log files of `directory` (one JSON line each)."""
    return sum(1 for path in directory.glob("predictions-*.jsonl")
               for line in path.read_bytes().splitlines() if b'"request_id"' in line)


def run_load(requests: int = 2000, threads: int = 4, seed: int = 0,
             max_body: int = DEFAULT_MAX_BODY, workdir: Path | None = None,
             log_predictions: bool = False) -> LoadReport:
    """Build the project, start the server, send the requests, stop it, and report.

    Args:
        requests: How many requests to send.
        threads: How many client threads (one keep-alive connection each).
        seed: Seed of the request mix and order.
        max_body: The server's --max-body.
        workdir: Where to build the project (a temporary directory when None).
        log_predictions: Start the server with --log-predictions (the report counts the
            requests logged).

    Returns:
        The report; `ok` says whether the server passed.
    """
    with tempfile.TemporaryDirectory(prefix="mlpipe-load-") as tmp:
        root = Path(workdir or tmp) / "project"
        build_project(root)
        token = secrets.token_urlsafe(24)
        batch = probes(requests, token, seed, max_body)
        log = root.parent / "serve.log"
        predictions = root.parent / "predictions" if log_predictions else None
        proc = start_server(root, free_port(), token, max_body, log, predictions)
        port = int(proc.args[proc.args.index("--port") + 1])
        try:
            answers, wall_s = send_all(port, batch, threads)
            alive = proc.poll() is None and _healthy(port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logged = logged_requests(predictions) if predictions is not None else None
        return summarize(answers, wall_s, alive, log.read_text(errors="replace"), logged)


def format_report(report: LoadReport) -> str:
    """The report as a few lines of text."""
    statuses = ", ".join(f"{status or 'no answer'}: {n}"
                         for status, n in sorted(report.by_status.items()))
    lines = [f"requests     {report.requests} in {report.wall_s:.2f} s "
             f"({report.throughput:.0f} req/s)",
             f"latency      p50 {report.p50_ms:.1f} ms, p99 {report.p99_ms:.1f} ms",
             f"by status    {statuses}",
             f"server       {'alive' if report.server_alive else 'DIED'}, "
             f"{report.server_errors} answers 5xx, {len(report.mismatches)} unexpected"]
    if report.logged is not None:
        lines.append(f"logged       {report.logged} requests in the prediction log "
                     f"({report.by_status.get(200, 0)} answered 200)")
    for kind in (*VALID, *MALFORMED):
        counts = report.by_kind.get(kind, Counter())
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        lines.append(f"  {kind:<20} {shown}")
    for answer in report.mismatches[:5]:
        lines.append(f"unexpected: {answer.kind} wanted {answer.expected}, got "
                     f"{answer.status} {answer.error}".rstrip())
    lines.append("PASS" if report.ok else "FAIL")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 when the server passed, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY)
    parser.add_argument("--log-predictions", action="store_true",
                        help="serve with --log-predictions (into a temporary directory)")
    args = parser.parse_args(argv)
    report = run_load(args.requests, args.threads, args.seed, args.max_body,
                      log_predictions=args.log_predictions)
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
