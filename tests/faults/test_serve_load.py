"""`mlpipe serve` under a bounded mixed load: no 5xx, every malformed request gets its 4xx,
and the server is still alive afterwards (the code of benchmarks/load_serve.py, fewer requests).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "load_serve.py"


@pytest.fixture(scope="module")
def load() -> ModuleType:
    """benchmarks/load_serve.py, imported from its path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("load_serve", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_serve_answers_a_mixed_load_without_a_5xx(load: ModuleType, tmp_path: Path) -> None:
    report = load.run_load(requests=300, threads=4, seed=7, workdir=tmp_path)
    assert report.server_alive
    assert report.server_errors == 0 and report.by_status[0] == 0
    assert report.mismatches == []
    assert report.requests == 300 and report.by_status[200] == 240
    for kind in load.MALFORMED:  # each malformed kind was sent, and got exactly its status
        assert report.by_kind[kind] == Counter({load.EXPECTED[kind]: sum(
            report.by_kind[kind].values())}), kind
        assert sum(report.by_kind[kind].values()) >= 8
    assert "POST /predict" in report.log and "Traceback" not in report.log
    assert report.ok and "PASS" in load.format_report(report)


def test_a_5xx_a_wrong_status_or_a_dead_server_fails_the_run(load: ModuleType) -> None:
    good = [load.Answer("predict_list", 200, 200, 0.01), load.Answer("no_auth", 401, 401, 0.02)]
    assert load.summarize(good, 1.0, server_alive=True).ok
    assert not load.summarize(good, 1.0, server_alive=False).ok
    crashed = load.summarize([*good, load.Answer("wrong_type", 422, 500, 0.01)], 1.0, True)
    assert crashed.server_errors == 1 and not crashed.ok
    lenient = load.summarize([*good, load.Answer("no_auth", 401, 200, 0.01)], 1.0, True)
    assert lenient.server_errors == 0 and len(lenient.mismatches) == 1 and not lenient.ok
    assert "FAIL" in load.format_report(lenient)


def test_the_request_mix_is_fixed_by_the_seed(load: ModuleType) -> None:
    first, again = load.probes(500, "t", seed=3), load.probes(500, "t", seed=3)
    assert first == again
    kinds = Counter(p.kind for p in first)
    assert sum(kinds[k] for k in load.MALFORMED) == 100  # one in five
    assert {p.expected for p in first if p.kind in load.MALFORMED} == {400, 401, 413, 422}
    assert all(p.headers.get("Authorization") == "Bearer t"
               for p in first if p.kind not in ("wrong_auth", "no_auth"))
