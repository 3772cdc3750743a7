"""YAML loading that keeps line and column marks and rejects duplicate keys.

pyyaml silently keeps the last of two equal keys; a pipeline with two stages of the same name
would lose one without a word. The loader here raises instead, and returns mappings as
`MarkedDict`, which remembers the (1-based) line and column of the mapping and of each key.
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


class _MarkingLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader whose mappings are MarkedDicts and whose duplicate keys are errors."""

    source: Path

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> MarkedDict:
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


def loads(text: str, source: Path) -> Any:
    """Parse one YAML document, naming `source` in every error."""
    loader = _MarkingLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"invalid YAML: {problem}", path=source,
                        line=mark.line + 1 if mark else None,
                        col=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", path=source) from None
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
