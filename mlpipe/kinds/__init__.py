"""Stage kinds as plug-ins: the interface (`plugin`), the registry (`registry`), one module per
built-in kind. `kinds.get(name)`, `kinds.known()` and `@kinds.add_kind` are the registry's."""

from mlpipe.kinds.registry import ENTRY_POINT_GROUP, UnknownKind, add_kind, get, known

__all__ = ["ENTRY_POINT_GROUP", "UnknownKind", "add_kind", "get", "known"]
