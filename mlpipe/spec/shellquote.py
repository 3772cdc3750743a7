"""Quoting a param's text for the place it takes in a POSIX shell command.

`params.interpolate` puts params into a `command` stage's `cmd`. So that a param reaches the
command as literal text whatever it holds (`; rm -rf ~`, `$(...)`, backticks, quotes), its text
is quoted for where it lands, which `scan` works out from the command text before it:

- at top level, and inside `$(...)` or `(...)` where quoting starts afresh: `shlex.quote`;
- inside '...': each single quote becomes `'\\''`;
- inside "...": a backslash before each backslash, double quote, dollar sign and backtick;
- then, for each enclosing backtick substitution (which drops a backslash before a backslash,
  a dollar sign or a backtick before its command is read), those escaped once more.

Heredocs are not followed: a reference inside one is quoted as if at top level.
"""

from __future__ import annotations

import re
import shlex

SINGLE, DOUBLE, BACKTICK, SUBSHELL = "'", '"', "`", "("
# The constructs open at a point of a command, innermost last; () is the top level.
Context = tuple[str, ...]

_SPECIAL_IN_DOUBLE = re.compile(r'([\\"$`])')
_SPECIAL_IN_BACKTICKS = re.compile(r"([\\$`])")


def scan(text: str, context: Context = ()) -> Context:
    """The constructs open after reading `text`, starting inside `context`."""
    stack = list(context)
    index = 0
    while index < len(text):
        char, top = text[index], stack[-1] if stack else ""
        if top == SINGLE:
            if char == "'":
                stack.pop()
        elif char == "\\":
            index += 1  # the next character is taken as it is
        elif top == DOUBLE and char == '"':
            stack.pop()
        elif char == "$" and text.startswith("(", index + 1):
            stack.append(SUBSHELL)
            index += 1
        elif char == "`":
            if top == BACKTICK:
                stack.pop()
            else:
                stack.append(BACKTICK)
        elif top == DOUBLE:
            pass
        elif char in "'\"":
            stack.append(char)
        elif char == "(":
            stack.append(SUBSHELL)
        elif char == ")" and top == SUBSHELL:
            stack.pop()
        index += 1
    return tuple(stack)


def quote(text: str, context: Context = ()) -> str:
    """`text` as literal characters of one word, at a point where `context` is open."""
    top = context[-1] if context else ""
    if top == SINGLE:
        quoted = text.replace("'", "'\\''")
    elif top == DOUBLE:
        quoted = _SPECIAL_IN_DOUBLE.sub(r"\\\1", text)
    else:
        quoted = shlex.quote(text)
    for _ in range(context.count(BACKTICK)):
        quoted = _SPECIAL_IN_BACKTICKS.sub(r"\\\1", quoted)
    return quoted
