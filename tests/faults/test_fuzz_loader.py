"""Fuzzing the pipeline loader: any file gives a PipelineSpec or ONE `path:LINE: ...` error.

Two sources of input: arbitrary YAML documents (random trees dumped with yaml.safe_dump, and
raw text made of YAML-ish fragments), and mutations of the shipped example pipelines (a key
deleted, a value of another type, a stage or field renamed, odd characters inserted, the text
cut short, a line duplicated...). Anything but a valid spec or a one-line SpecError is a bug.

The runs are derandomized, so every run checks the same cases: CASES per test (2,200 in all,
about 15 s), plus the known hard cases in REGRESSIONS. `pytest -s` prints how many files each
test found valid and refused; `--hypothesis-show-statistics` gives hypothesis's own counts.
"""

from __future__ import annotations

import copy
import re
import shutil
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, composite

from mlpipe import api, kinds
from mlpipe.errors import MlpipeError, SpecError
from mlpipe.spec.parse import COMMON_FIELDS, TOP_LEVEL_FIELDS

EXAMPLES = Path(__file__).parents[2] / "examples" / "pipelines"
EXAMPLE_NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/mlpipe.yaml"))
CASES = {"arbitrary": 400, "fragments": 400, "text-mutations": 800, "tree-mutations": 600}

settings.register_profile(
    "loader-fuzz", derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("loader-fuzz")

KIND_NAMES = kinds.known()
FIELD_NAMES = sorted({*COMMON_FIELDS, *(f for k in KIND_NAMES for f in (
    *kinds.get(k).required, *kinds.get(k).optional))})
ODD_TEXT = ["", " ", "\t", "\n", ":", ": ", "- ", "-", "?", "{", "}", "[", "]", ",", "&a ", "*a",
            "!!str ", "!!binary ", "!!python/object:os.system ", "!!set ", "!!int ", "!!bool ",
            "!!float ", "!!timestamp ", "!!map ", "!!seq ", "!!omap ", "!!null ", "%", "@", "`",
            "|", ">", "#", "'", '"', "\\", "\x00", "\x07", "\x1b", "\u2028", "\ufeff",
            "\U0001f600", "é", "${", "}", "${params.", "${params.nope}", "${raw:params.x}",
            "$(id)", "..", "../", "/", "~", "~/", "<<: ", "*", "\r", "\r\n", "    ", "null",
            "1e999", ".nan"]
ODD_VALUES = ["", "~", "null", "[]", "{}", "[[]]", "0", "-1", "1.5", "1e999", ".inf", ".nan",
              "true", "no", "2024-01-01", "'0'", "!!binary aGk=", "!!set {a}", "{a: 1}",
              "[a, b]", "- x", "../escape.txt", "/etc/passwd", "~/x", ".", "..", "a/../..",
              "ingest.train", "train.nope", "self.x", "${params.nope}", "${params.split}",
              "'${raw:params.split.seed}'", "'; rm -rf x #'", "\"a\\0b\"", "\"\\ud800\"",
              "\"\\x07\"", "&anchor x", "*anchor", "\"line\\nbreak\"", "|\n  block"]

# Values the kinds accept somewhere, so that checks get past their first test.
PLAUSIBLE = ["stop", "warn", "batch", "server", "bundle", "ridge", "logistic_regression",
             "sklearn.linear_model:Ridge", "iris", "diabetes", "ks", "chi2", "psi", "median",
             "standard", "classification", "regression", "accuracy >= 0.9", "r2 >=", "f1 < x",
             "iris@champion", "iris@", "@1", "main", "git:HEAD~1", "registry:iris@champion",
             "data.csv", "out/x.csv", "ingest.schema", "train.model", "register.entry",
             "sqlite:///x.db", "SELECT 1", "parquet", "csv", "float", "int", "str"]


def check_outcome(path: Path, tally: Counter[str]) -> None:
    """Load `path` as `mlpipe check` does; a SpecError must be one line naming path:LINE.

    The path is the pipeline file's, or for a problem inside its params file, that file's.
    """
    try:
        api.load(path)
    except MlpipeError as exc:
        message = str(exc)
        assert isinstance(exc, SpecError), f"{type(exc).__name__}: {message}"
        assert len(message.splitlines()) == 1, repr(message)
        assert not any(unicodedata.category(char) == "Cc" for char in message), repr(message)
        where = re.match(r"(.+?):\d+(:\d+)?: \S", message)
        assert where, repr(message)
        assert where[1] == str(path) or Path(where[1]).is_file(), repr(message)
        tally["error"] += 1
    else:
        tally["spec"] += 1


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of each example's sources (no outputs or state), to mutate in place."""
    root = tmp_path_factory.mktemp("examples")
    ignore = shutil.ignore_patterns(".mlpipe", "out", "*.lock")
    return {name: Path(shutil.copytree(EXAMPLES / name, root / name, ignore=ignore))
            for name in EXAMPLE_NAMES}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "mlpipe.yaml"


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Counts each case's outcome; printed at the end (`pytest -s` shows it)."""
    counts: Counter[str] = Counter()
    yield counts
    print(f"\n{request.node.name}: {counts.total()} cases, {counts['spec']} valid, "
          f"{counts['error']} refused")


scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=12) | st.sampled_from(ODD_VALUES) | st.sampled_from(ODD_TEXT)
           | st.sampled_from(PLAUSIBLE))
keys = st.sampled_from(FIELD_NAMES) | st.sampled_from(TOP_LEVEL_FIELDS) | st.text(max_size=8)
trees = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(keys, kids, max_size=5), max_leaves=25)
values = st.sampled_from(PLAUSIBLE) | scalars | trees
params = st.dictionaries(st.sampled_from(["a", "b", "seed", "split"]), scalars | st.dictionaries(
    st.sampled_from(["seed", "size"]), scalars, max_size=2), max_size=4)
names = st.sampled_from(["a", "b", "ingest", "train"]) | st.sampled_from(
    ["a.b", "../x", "a/b", "-", "1", "é", "a b", "$(id)", ".", "", "a\nb"]) | st.text(max_size=6)


def rarely(draw: DrawFn) -> bool:
    return draw(st.integers(0, 19)) == 19


@composite
def stage_bodies(draw: DrawFn) -> dict[Any, Any]:
    """A stage of a known kind: its required fields, some optional ones, odd values in all."""
    kind = kinds.get(draw(st.sampled_from(KIND_NAMES)))
    fields = [*kind.required, *draw(st.lists(st.sampled_from([*kind.optional, *COMMON_FIELDS]),
                                             max_size=4, unique=True))]
    body: dict[Any, Any] = {"kind": kind.name, **{field: draw(values) for field in fields}}
    if rarely(draw):
        body.update(draw(st.dictionaries(keys, trees, max_size=3)))
    return body


@composite
def pipelines(draw: DrawFn) -> Any:
    """Mostly pipeline-shaped documents with params and stages; now and then anything at all."""
    if rarely(draw):
        return draw(trees)
    doc: dict[Any, Any] = {"params": draw(params)} if draw(st.booleans()) else {}
    if rarely(draw):
        doc.update(draw(st.dictionaries(keys, trees, max_size=3)))
    doc["stages"] = draw(trees) if rarely(draw) else draw(
        st.dictionaries(names, stage_bodies(), min_size=1, max_size=4))
    return doc


BILLION_LAUGHS = "params:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {chr(c + 1)}: &{chr(c + 1)} [{', '.join([f'*{chr(c)}'] * 10)}]\n" for c in range(97, 104))
# Before the loader was fixed, each of these crashed it, hung it for minutes (billion laughs),
# gave an error without a line or on several lines, or was accepted although wrong (one of two
# stages silently dropped, a path no file can have). They run through `mlpipe check` too.
REGRESSIONS = {
    "tag-on-wrong-node": "stages: !!set x\n",
    "bad-tagged-int": "stages:\n  a:\n    kind: command\n    cmd: !!int x\n",
    "bad-tagged-timestamp": "stages: {a: {kind: command, cmd: !!timestamp x}}\n",
    "control-character": "stages:\n  a:\n    kind: command\n    cmd: echo \x07\n",
    "recursive-alias": "stages:\n  a:\n    kind: command\n    cmd: &x [echo, *x]\n",
    "billion-laughs": BILLION_LAUGHS + "stages: {a: {kind: command, cmd: *h}}\n",
    "deep-nesting": "stages: {a: {kind: command, cmd: " + "[" * 500 + "]" * 500 + "}}\n",
    "empty-file": "",
    "a-list": "- a\n- b\n",
    "params-file-nul": "params_file: \"a\\0b\"\nstages: {a: {kind: command, cmd: echo}}\n",
    "params-file-directory": "params_file: .\nstages: {a: {kind: command, cmd: echo}}\n",
    "params-file-missing": "params_file: nope.yaml\nstages: {a: {kind: command, cmd: echo}}\n",
    "same-name-as-number-and-text": "stages:\n  1: {kind: command, cmd: echo}\n"
                                    "  '1': {kind: command, cmd: echo}\n",
    "newline-in-stage-name": "stages:\n  \"a\\nb\":\n    kind: command\n    cmd: echo\n",
    "newline-in-key": "\"x\\ny\": 1\nstages: {a: {kind: command, cmd: echo}}\n",
    "escape-in-kind": "stages: {a: {kind: \"\\e[31mred\", cmd: echo}}\n",
    "nul-in-output": "stages: {a: {kind: command, cmd: echo, outs: [\"a\\0b\"]}}\n",
    "surrogate-in-output": "stages: {a: {kind: command, cmd: echo, outs: [\"\\ud800\"]}}\n",
}


@pytest.mark.parametrize("text", REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_known_hard_cases(scratch: Path, text: str) -> None:
    scratch.write_text(text, encoding="utf-8")
    tally: Counter[str] = Counter()
    started = time.perf_counter()
    check_outcome(scratch, tally)
    assert tally == {"error": 1}
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("text", REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_check_command_reports_one_line(project: Path, mlpipe: Invoke, text: str) -> None:
    (project / "mlpipe.yaml").write_text(text, encoding="utf-8")
    result = mlpipe("check")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert re.match(r"mlpipe: error: \S*mlpipe\.yaml:\d+(:\d+)?: \S", result.stderr)


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@settings(FUZZ, max_examples=CASES["arbitrary"])
@given(doc=pipelines())
def test_arbitrary_documents(scratch: Path, tally: Counter[str], doc: Any) -> None:
    scratch.write_text(dump(doc), encoding="utf-8")
    check_outcome(scratch, tally)


fragments = st.lists(st.sampled_from(ODD_TEXT) | st.sampled_from(FIELD_NAMES)
                     | st.sampled_from(["stages:\n", "  a:\n", "    kind: command\n",
                                        "    cmd: echo\n", "params:\n", "  x: 1\n"])
                     | st.text(max_size=4), max_size=30).map("".join)


@settings(FUZZ, max_examples=CASES["fragments"])
@given(text=fragments)
def test_text_fragments(scratch: Path, tally: Counter[str], text: str) -> None:
    scratch.write_text(text, encoding="utf-8")
    check_outcome(scratch, tally)


_KEY_LINE = re.compile(r"^(\s*(?:- )?)([^\s:#][^:#]*?)(:\s*)(.*)$")


@composite
def text_mutation(draw: DrawFn, text: str) -> str:
    """`text` with one line-level change: the kind of slip a hand edit makes."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return draw(st.sampled_from(ODD_TEXT))
    i = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["delete", "duplicate", "truncate", "insert", "value", "key",
                               "indent"]))
    found = _KEY_LINE.match(lines[i].rstrip("\n"))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    elif op == "insert" or not found:
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + draw(st.sampled_from(ODD_TEXT)) + lines[i][at:]
    elif op == "value":
        value = draw(st.sampled_from(ODD_VALUES) | st.text(max_size=8))
        lines[i] = f"{found[1]}{found[2]}: {value}\n"
    elif op == "key":
        name = draw(st.sampled_from(FIELD_NAMES) | st.sampled_from(ODD_TEXT) | st.text(max_size=6))
        lines[i] = f"{found[1]}{name}{found[3]}{found[4]}\n"
    else:
        shift = draw(st.sampled_from([-4, -2, -1, 1, 2]))
        indent = max(0, len(found[1]) + shift)
        lines[i] = " " * indent + lines[i].lstrip(" ")
    return "".join(lines)


@settings(FUZZ, max_examples=CASES["text-mutations"])
@given(name=st.sampled_from(EXAMPLE_NAMES), data=st.data())
def test_example_text_mutations(examples: dict[str, Path], tally: Counter[str], name: str,
                                data: st.DataObject) -> None:
    path = examples[name] / "mlpipe.yaml"
    text = (EXAMPLES / name / "mlpipe.yaml").read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(1, 3))):
        text = data.draw(text_mutation(text))
    path.write_text(text, encoding="utf-8")
    check_outcome(path, tally)


def node_paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path (keys and indexes) of every node under `node`, itself excluded."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from node_paths(child, (*prefix, key))


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@composite
def tree_mutation(draw: DrawFn, doc: Any) -> Any:
    """`doc` with one structural change: a node deleted, retyped, renamed or copied."""
    paths = list(node_paths(doc))
    if not paths:
        return doc
    *parent_path, key = draw(st.sampled_from(paths))
    parent = at(doc, tuple(parent_path))
    op = draw(st.sampled_from(["delete", "retype", "rename", "copy"]))
    if op == "delete":
        del parent[key]
    elif op == "retype":
        parent[key] = draw(trees)
    elif op == "rename" and isinstance(parent, dict):
        new = draw(keys | st.sampled_from(["../x", "a/b", "ingest", "train", "a.b", "$(id)"]))
        parent[new] = parent.pop(key)
    elif isinstance(parent, dict):
        target = at(doc, tuple(draw(st.sampled_from(paths))[:-1]))
        if isinstance(target, dict):
            target[draw(keys)] = copy.deepcopy(parent[key])
    return doc


@settings(FUZZ, max_examples=CASES["tree-mutations"])
@given(name=st.sampled_from(EXAMPLE_NAMES), data=st.data())
def test_example_tree_mutations(examples: dict[str, Path], tally: Counter[str], name: str,
                                data: st.DataObject) -> None:
    path = examples[name] / "mlpipe.yaml"
    doc = yaml.safe_load((EXAMPLES / name / "mlpipe.yaml").read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        doc = data.draw(tree_mutation(doc))
    path.write_text(dump(doc), encoding="utf-8")
    check_outcome(path, tally)
