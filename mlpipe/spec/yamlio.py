"""YAML loading that keeps line and column marks and rejects duplicate keys.

pyyaml silently keeps the last of two equal keys; a pipeline with two stages of the same name
would lose one without a word. The loader here raises instead, and returns mappings as
`MarkedDict`, which remembers the (1-based) line and column of the mapping and of each key.
Before building any value it also refuses documents that no pipeline needs and that would
exhaust the parser: an alias inside the node it names (a recursive value), aliases that expand
past MAX_VALUES values ("billion laughs"), and nesting deeper than MAX_DEPTH.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlpipe.errors import SpecError

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml built without libyaml
    _BaseLoader = yaml.SafeLoader

MAX_DEPTH = 100
MAX_VALUES = 100_000
_TOO_DEEP = f"values nested more than {MAX_DEPTH} levels deep"


class MarkedDict(dict):
    """A dict that knows where it and each of its keys stand in the source file.

    Attributes:
        line: 1-based line of the mapping's first key.
        col: 1-based column of the mapping's first key.
        key_marks: key -> (line, col) of that key, 1-based.
    """

    line: int = 0
    col: int = 0
    key_marks: dict[Any, tuple[int, int]]

    def mark_of(self, key: Any) -> tuple[int, int]:
        """Where `key` stands, or where the mapping starts when the key is absent."""
        return self.key_marks.get(key, (self.line, self.col))


class _MarkingLoader(_BaseLoader):
    """Safe loader whose mappings are MarkedDicts and whose duplicate keys are errors."""

    source: Path

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """pyyaml's, with a value its explicit tag cannot read (`!!int x`) made a YAML error."""
        try:
            return super().construct_object(node, deep=deep)
        except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise yaml.constructor.ConstructorError(
                None, None, f"the value cannot be read as {tag}", node.start_mark) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> MarkedDict:
        if not isinstance(node, yaml.MappingNode):  # `!!map x`, `!!set [a]`
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found a {node.id}", node.start_mark)
        self.flatten_mapping(node)
        result = MarkedDict()
        result.line = node.start_mark.line + 1
        result.col = node.start_mark.column + 1
        result.key_marks = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            try:
                hash(key)
            except TypeError:
                raise SpecError("a mapping key must be a plain value", path=self.source,
                                line=line, col=col) from None
            if key in result:
                first = result.key_marks[key][0]
                raise SpecError(f"duplicate key '{key}' (first defined on line {first})",
                                path=self.source, line=line, col=col)
            result[key] = self.construct_object(value_node, deep=deep)
            result.key_marks[key] = (line, col)
        return result


_MarkingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _MarkingLoader.construct_mapping
)


def _at(node: yaml.Node, source: Path, problem: str) -> SpecError:
    mark = node.start_mark
    return SpecError(f"invalid YAML: {problem}", path=source, line=mark.line + 1,
                     col=mark.column + 1)


def _measure(node: yaml.Node, source: Path, depth: int, seen: dict[int, tuple[int, int]],
             open_nodes: set[int]) -> tuple[int, int]:
    """(values, height) of `node` with every alias expanded; SpecError past the limits."""
    if depth > MAX_DEPTH:
        raise _at(node, source, _TOO_DEEP)
    if id(node) in seen:
        values, height = seen[id(node)]
    elif id(node) in open_nodes:
        raise _at(node, source, "an alias refers to a node that contains it")
    else:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        open_nodes.add(id(node))
        sizes = [_measure(child, source, depth + 1, seen, open_nodes) for child in children]
        open_nodes.discard(id(node))
        values = 1 + sum(size for size, _ in sizes)
        height = 1 + max((h for _, h in sizes), default=0)
        seen[id(node)] = values, height
    if depth + height > MAX_DEPTH:
        raise _at(node, source, _TOO_DEEP)
    if values > MAX_VALUES:
        raise _at(node, source, f"aliases expand to more than {MAX_VALUES} values")
    return values, height


def _check_tree(root: yaml.Node, source: Path) -> None:
    """The limits of `_measure` for a document without aliases, where no node repeats."""
    stack = [(root, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth >= MAX_DEPTH:
            raise _at(node, source, _TOO_DEEP)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
    if count > MAX_VALUES:
        raise _at(root, source, f"the document has more than {MAX_VALUES} values")


def loads(text: str, source: Path) -> Any:
    """Parse one YAML document, naming `source` (and, always, a line) in every error."""
    loader = _MarkingLoader(text)
    loader.source = source
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "*" in text:  # an alias may repeat a node: measure it expanded
            _measure(node, source, 0, {}, set())
        else:
            _check_tree(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"invalid YAML: {problem}", path=source,
                        line=mark.line + 1 if mark else 1,
                        col=mark.column + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(f"invalid YAML: unacceptable character #x{exc.character:04x}: "
                        f"{exc.reason}", path=source, line=line) from None
    except yaml.YAMLError as exc:
        problem = next(iter(str(exc).splitlines()), type(exc).__name__)
        raise SpecError(f"invalid YAML: {problem}", path=source, line=1) from None
    finally:
        loader.dispose()


def load_file(path: Path) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a SpecError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read file: {exc}", path=path) from None
    return loads(text, path)
