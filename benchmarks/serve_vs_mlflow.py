"""`mlpipe serve` side by side with `mlflow models serve --env-manager local`, same model.

    python benchmarks/serve_vs_mlflow.py [--seconds 3] [--rounds 2] [--workers 1]

Run it with the dev environment's Python (`.venv/bin/python`, which has mlflow from the dev
extra). It trains one scikit-learn pipeline (scaler + logistic regression, 4 float features,
3 classes), registers it in a temporary mlpipe project and saves the same fitted object as an
MLflow model (`mlflow.sklearn.save_model`, with its signature), then alternates the two
servers on free loopback ports, `--rounds` times each, measuring in every round:

- requests/s and p99 latency of single-record `/invocations` (`dataframe_split`) at 1, 4 and
  16 concurrent clients (keep-alive connections, `--seconds` each);
- rows/s and p99 of 1,000-record batches at 4 clients;
- p99 of `/health` polled every 10 ms while 2 clients send 5,000-record batches;
- startup (process start to the first 200 on /ping) and resident memory after the load.

Each figure is the best round of each server (least disturbed by whatever else the machine
runs); ratios are mlpipe / MLflow (higher is better for rates, lower for times and memory).
Every load loop is bounded by time and stops by itself; servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEATURES = ["f0", "f1", "f2", "f3"]
CLIENTS = (1, 4, 16)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(workdir: Path) -> tuple[Path, Path, list[list[float]]]:
    """(mlpipe project, MLflow model directory, sample rows) for one fitted model."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlpipe.models.registry import Registry

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(3000, 4)), columns=FEATURES)
    y = (x["f0"] + x["f1"] > 0).astype(int) + (x["f2"] > 1).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    project = workdir / "project"
    project.mkdir()
    (project / "mlpipe.yaml").write_text("stages: {}\n", encoding="utf-8")
    import joblib

    joblib.dump(model, workdir / "model.joblib")
    meta = {"task": "classification", "target": "y", "classes": [0, 1, 2],
            "features": [{"name": n, "dtype": "float64"} for n in FEATURES]}
    registry = Registry(project / ".mlpipe")
    registry.register("bench", workdir / "model.joblib", meta, {}, {}, gates_passed=True)
    mlflow_dir = workdir / "mlflow-model"
    mlflow.sklearn.save_model(model, str(mlflow_dir), signature=infer_signature(x, y),
                              serialization_format="pickle")
    return project, mlflow_dir, x.round(4).to_numpy().tolist()


@dataclass
class Server:
    """A running server process."""

    name: str
    proc: subprocess.Popen
    port: int
    startup: float


def start(name: str, project: Path, mlflow_dir: Path, workers: int) -> Server:
    """Start one server and wait for its first 200 on /ping."""
    port = _free_port()
    if name == "mlpipe":
        cmd = [sys.executable, "-m", "mlpipe", "serve", "bench", "--port", str(port),
               "--workers", str(workers)]
        cwd = project
    else:
        mlflow = Path(sys.executable).with_name("mlflow")
        cmd = [str(mlflow), "models", "serve", "-m", str(mlflow_dir), "--env-manager", "local",
               "--host", "127.0.0.1", "-p", str(port), "-w", str(workers)]
        cwd = mlflow_dir.parent
    # mlflow starts `uvicorn` through the shell: this environment's bin/ must be on PATH
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{name} server exited with {proc.returncode}: {' '.join(cmd)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(Server(name, proc, port, 0))
            raise SystemExit(f"{name} server did not answer /ping within 120 s")
        time.sleep(0.05)
    return Server(name, proc, port, time.perf_counter() - began)


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending += [int(c) for c in children]
    return total / 1024


def stop(server: Server) -> None:
    """Stop a server and everything it started."""
    try:
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=20)


def body(rows: list[list[float]], start_at: int, count: int) -> bytes:
    data = [rows[(start_at + i) % len(rows)] for i in range(count)]
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": data}}).encode()


def load(port: int, clients: int, seconds: float, make: Callable[[int], bytes],
         path: str = "/invocations") -> tuple[int, list[float], int]:
    """(answered requests, latencies in s, non-200 answers) from `clients` threads."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad, n = [], 0, index
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < stop_at:
            payload = make(n)
            n += clients
            began = time.perf_counter()
            conn.request("POST", path, payload, headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            bad += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies, failures[0]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def health_during_batches(port: int, seconds: float, rows: list[list[float]]) -> float:
    """p99 of /health (every 10 ms) while 2 clients send 5,000-record batches."""
    big = body(rows, 0, 5000)
    result: list[Any] = []
    batches = threading.Thread(target=lambda: result.append(
        load(port, 2, seconds, lambda n: big)))
    batches.start()
    time.sleep(0.3)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    probes: list[float] = []
    stop_at = time.monotonic() + seconds - 0.5
    while time.monotonic() < stop_at:
        began = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        probes.append(time.perf_counter() - began)
        time.sleep(0.01)
    conn.close()
    batches.join()
    return p99(probes)


@dataclass
class Figures:
    """One server's best figures over the rounds."""

    rates: dict[str, float] = field(default_factory=dict)  # higher is better
    times: dict[str, float] = field(default_factory=dict)  # lower is better
    failures: int = 0

    def keep(self, key: str, value: float, higher: bool) -> None:
        table = self.rates if higher else self.times
        old = table.get(key)
        table[key] = value if old is None else (max(old, value) if higher else min(old, value))


def measure(server: Server, rows: list[list[float]], seconds: float, into: Figures) -> None:
    """One round of every measurement against a running server."""
    load(server.port, 4, 1.0, lambda n: body(rows, n, 1))  # warm-up
    for clients in CLIENTS:
        count, latencies, bad = load(server.port, clients, seconds, lambda n: body(rows, n, 1))
        into.keep(f"single-record req/s, {clients} client(s)", count / seconds, True)
        into.keep(f"single-record p99 ms, {clients} client(s)", p99(latencies) * 1e3, False)
        into.failures += bad
    batches = [body(rows, i * 1000, 1000) for i in range(8)]
    count, latencies, bad = load(server.port, 4, seconds, lambda n: batches[n % 8])
    into.keep("1,000-record batches rows/s, 4 clients", count * 1000 / seconds, True)
    into.keep("1,000-record batch p99 ms", p99(latencies) * 1e3, False)
    into.failures += bad
    into.keep("/health p99 ms during 5,000-record batches",
              health_during_batches(server.port, seconds, rows) * 1e3, False)
    into.keep("startup s (to first /ping)", server.startup, False)
    into.keep("memory MiB (resident, after load)", rss_mib(server.proc.pid), False)


def report(figures: dict[str, Figures]) -> str:
    """The table of both servers' figures with the ratios."""
    ours, theirs = figures["mlpipe"], figures["mlflow"]
    lines = [f"{'measure':48} {'mlpipe':>10} {'mlflow':>10} {'ratio':>7}"]
    for table in ("rates", "times"):
        for key, value in getattr(ours, table).items():
            other = getattr(theirs, table)[key]
            ratio = value / other if other else float("nan")
            lines.append(f"{key:48} {value:10.1f} {other:10.1f} {ratio:6.2f}x")
    lines.append(f"non-200 answers: mlpipe {ours.failures}, mlflow {theirs.failures}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("mlflow", path=str(Path(sys.executable).parent)) is None:
        raise SystemExit("mlflow is not installed beside this Python: run this with the dev "
                         "environment (.venv/bin/python, `pip install -e '.[dev]'`)")
    workdir = Path(tempfile.mkdtemp(prefix="serve-vs-mlflow-"))
    try:
        project, mlflow_dir, rows = build(workdir)
        figures = {"mlpipe": Figures(), "mlflow": Figures()}
        for round_number in range(args.rounds):
            for name in ("mlpipe", "mlflow") if round_number % 2 == 0 else ("mlflow", "mlpipe"):
                server = start(name, project, mlflow_dir, args.workers)
                try:
                    measure(server, rows, args.seconds, figures[name])
                finally:
                    stop(server)
                print(f"round {round_number + 1}: {name} measured", file=sys.stderr)
        print(f"{os.cpu_count()} cores; {args.rounds} rounds of {args.seconds:g} s per "
              f"measure, alternating; {args.workers} worker(s) each; best round shown")
        print(report(figures))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
