"""Shell injection: a param interpolated into `cmd` reaches the command as literal text.

A reference inside longer text is shell-quoted for where it stands (unquoted, in '...', in
"...", inside $(...) or backticks); `${raw:params.x}` and a `cmd` that is exactly one reference
are left as written. Stage names never reach a shell at all (they travel in MLPIPE_STAGE).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Invoke, statuses, write_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from mlpipe.spec.params import interpolate
from mlpipe.spec.parse import load

PAYLOADS = ["; touch pwned #", "$(touch pwned)", "`touch pwned`", "x' ; touch pwned ; '",
            'x" ; touch pwned ; "', "a\nb && touch pwned", "\\$(touch pwned)"]
# Where a reference may stand in a command, and how the command prints it.
PLACES = {"bare": "printf %s ${params.x} > got.txt",
          "single-quoted": "printf %s '<${params.x}>' > got.txt",
          "double-quoted": 'printf %s "<${params.x}>" > got.txt'}
EXPECTED = {"bare": "{}", "single-quoted": "<{}>", "double-quoted": "<{}>"}


def pipeline(cmd: str, params: dict[str, str], name: str = "show") -> str:
    """A one-stage pipeline; JSON strings are YAML strings, whatever they hold."""
    lines = ["params:", *(f"  {key}: {json.dumps(value)}" for key, value in params.items()),
             "stages:", f"  {json.dumps(name)}:", "    kind: command",
             f"    cmd: {json.dumps(cmd)}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_param_reaches_the_command_as_literal_text(project: Path, mlpipe: Invoke, place: str,
                                                   payload: str) -> None:
    write_tree(project, {"mlpipe.yaml": pipeline(PLACES[place], {"x": payload})})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"show": "ran"}, result.output
    assert not (project / "pwned").exists()
    assert (project / "got.txt").read_text() == EXPECTED[place].format(payload)


def test_raw_reference_is_shell_code(project: Path, mlpipe: Invoke) -> None:
    cmd = "printf '%s,' ${raw:params.flags} > got.txt ${raw:params.then}"
    write_tree(project, {"mlpipe.yaml": pipeline(cmd, {"flags": "--a --b",
                                                       "then": "&& touch opted-in"})})
    assert statuses(mlpipe("run", "--json")) == {"show": "ran"}
    assert (project / "got.txt").read_text() == "--a,--b,"
    assert (project / "opted-in").exists()


def test_whole_value_reference_is_the_users_command(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": pipeline("${params.cmd}",
                                                 {"cmd": "echo hi > a.txt; echo ho > b.txt"})})
    assert statuses(mlpipe("run", "--json")) == {"show": "ran"}
    assert (project / "a.txt").read_text() == "hi\n"
    assert (project / "b.txt").read_text() == "ho\n"


@pytest.mark.parametrize("name", ["a; touch pwned #", "$(touch pwned)", "`touch pwned`",
                                  "a' && touch pwned '"])
def test_stage_names_never_reach_a_shell(project: Path, mlpipe: Invoke, name: str) -> None:
    write_tree(project, {"mlpipe.yaml": pipeline('printf %s "$MLPIPE_STAGE" > got.txt', {},
                                                 name=name)})
    for command in (("run", "--json"), ("status",), ("dag",), ("run", "--json", "--force")):
        result = mlpipe(*command)
        assert result.exit_code == 0, result.output
    assert not (project / "pwned").exists()
    assert (project / "got.txt").read_text() == name


def test_commands_without_odd_params_are_unchanged(tmp_path: Path) -> None:
    """Plain values need no quotes, so their commands (and stage keys) stay as they were."""
    params = {"n": 3, "lr": 0.01, "name": "run-1", "path": "out/a.csv", "flag": True}
    text = "train --n ${params.n} --lr=${params.lr} '${params.name}' \"${params.path}\" " \
           "${params.flag}"
    write_tree(tmp_path, {"mlpipe.yaml": pipeline(text, params)})
    expected = "train --n 3 --lr=0.01 'run-1' \"out/a.csv\" true"
    assert load(tmp_path / "mlpipe.yaml").stage("show").config["cmd"] == expected
    assert interpolate(text, params, {}) == expected


# Places a reference may take, each with what `printf %s <place>` prints for a value.
NESTED = {
    "${params.x}": "{v}",
    "'${params.x}'": "{v}",
    '"${params.x}"': "{v}",
    "a${params.x}b": "a{v}b",
    "'a'${params.x}\"b\"": "a{v}b",
    "'${params.x}'${params.x}\"${params.x}\"": "{v}{v}{v}",
    '"$(printf %s ${params.x}; printf .)"': "{v}.",
    '"$(printf %s "${params.x}"; printf .)"': "{v}.",
    "\"$(printf %s '${params.x}'; printf .)\"": "{v}.",
    '"$( (printf %s ${params.x}); printf .)"': "{v}.",
    '"`printf %s ${params.x}; printf .`"': "{v}.",
    '"`printf %s "${params.x}"; printf .`"': "{v}.",
    "\"`printf %s '${params.x}'; printf .`\"": "{v}.",
    '"`printf %s "$(printf %s ${params.x})"; printf .`"': "{w}.",
}


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(value=st.text(st.characters(exclude_characters="\0")),
       place=st.sampled_from(sorted(NESTED)))
def test_any_text_survives_the_shell(value: str, place: str) -> None:
    """Whatever a param holds, wherever it stands, the command sees exactly that text."""
    cmd = interpolate(f"printf %s {place}", {"x": value}, {}, shell=True)
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, check=True).stdout
    # {w}: the value as an inner $(...) gives it back, without trailing newlines.
    expected = NESTED[place].replace("{v}", value).replace("{w}", value.rstrip("\n"))
    assert out.decode() == expected
