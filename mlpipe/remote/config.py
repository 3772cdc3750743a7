"""Named remotes in `.mlpipe/remotes.yaml` (per clone, never committed), and the choice of the
remote a command uses: `--remote NAME|URL`, else the file's default, else the pipeline's
`remote:`.

    # Written by mlpipe remote: named remotes of this clone.
    default: origin
    remotes:
      origin:
        url: s3://team-bucket/mlpipe
        options: {endpoint_url: http://minio.local:9000}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlpipe.errors import RemoteConfigError, did_you_mean, one_line
from mlpipe.spec.settings import RemoteSpec
from mlpipe.state.fsutil import atomic_write_text

FILE_NAME = "remotes.yaml"
HEADER = "# Written by mlpipe remote: named remotes of this clone.\n"
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
OPTION_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
SECRET_RE = re.compile(r"(secret|password|token|(^|_)key$)", re.IGNORECASE)
HOW_TO_SET = ("pass --remote URL, run `mlpipe remote add NAME URL --default`, or set "
              "`remote: URL` in the pipeline file")


@dataclass(frozen=True)
class NamedRemote:
    """One remote of the config file.

    Attributes:
        name: What commands call it (`--remote origin`).
        url: An fsspec URL or an absolute local path.
        options: fsspec storage options.
    """

    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemotesConfig:
    """The config file's content: remotes in name order and the default's name."""

    remotes: tuple[NamedRemote, ...] = ()
    default: str | None = None

    def get(self, name: str) -> NamedRemote | None:
        return next((remote for remote in self.remotes if remote.name == name), None)

    def names(self) -> list[str]:
        return [remote.name for remote in self.remotes]


@dataclass(frozen=True)
class ChosenRemote:
    """The remote a command uses.

    Attributes:
        url: An fsspec URL or an absolute local path.
        options: fsspec storage options.
        source: Where it was chosen, for messages (`--remote`, `remote 'origin'`...).
    """

    url: str
    options: Mapping[str, Any]
    source: str


def config_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def is_local(url: str) -> bool:
    """Whether `url` is a path on this machine (no `scheme://`, or `file://`)."""
    return "://" not in url or url.startswith(("file://", "local://"))


def absolute(url: str, base: Path) -> str:
    """A local path made absolute against `base` (`~` expanded); other URLs unchanged."""
    if not is_local(url):
        return url
    path = Path(url.split("://", 1)[1] if "://" in url else url).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def check_name(name: str) -> str:
    """The name when it can name a remote.

    Raises:
        RemoteConfigError: It is empty, too long, or has characters other than letters,
            digits, `_`, `-` and `.` (or does not start with a letter).
    """
    if not NAME_RE.match(name):
        raise RemoteConfigError(f"bad remote name {name!r}: use a letter, then letters, digits, "
                                "'_', '-' or '.' (at most 64 characters)")
    return name


def check_url(url: str) -> str:
    """The URL, stripped, when it can be one.

    Raises:
        RemoteConfigError: It is empty or holds control characters.
    """
    stripped = url.strip()
    if not stripped or one_line(stripped) != stripped:
        raise RemoteConfigError(f"bad remote URL {url!r}: give an fsspec URL "
                                "(s3://bucket/path, gs://...) or a directory path")
    return stripped


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs as storage options; values read as YAML, dotted keys nest.

    `-o endpoint_url=http://host:9000 -o config_kwargs.retries.max_attempts=2` gives
    `{"endpoint_url": "http://host:9000", "config_kwargs": {"retries": {"max_attempts": 2}}}`.

    Raises:
        RemoteConfigError: A pair has no `=` or a key is not a dotted identifier.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not OPTION_KEY_RE.match(key.strip()):
            raise RemoteConfigError(f"bad option {pair!r}: write key=value, e.g. "
                                    "-o endpoint_url=http://127.0.0.1:9000")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        *parents, last = key.strip().split(".")
        target = options
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise RemoteConfigError(f"bad option {pair!r}: '{part}' is already a value")
        target[last] = value
    return options


def shown_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options for display, with secrets (keys, tokens, passwords) masked."""
    return {key: shown_options(value) if isinstance(value, Mapping)
            else "***" if SECRET_RE.search(key) else value for key, value in options.items()}


def read(path: Path) -> RemotesConfig:
    """The config file's remotes; an empty config when the file does not exist.

    Raises:
        RemoteConfigError: The file cannot be read or is not a remotes file.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RemotesConfig()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RemoteConfigError(f"{path}: unreadable remotes file ({first}); fix it, or "
                                "delete it and add the remotes again") from None
    return _config_from(raw or {}, path)


def _config_from(raw: Any, path: Path) -> RemotesConfig:
    def bad(detail: str) -> RemoteConfigError:
        return RemoteConfigError(f"{path}: not a remotes file ({detail}); fix it, or delete it "
                                 "and add the remotes again")

    if not isinstance(raw, Mapping) or not isinstance(raw.get("remotes", {}), Mapping):
        raise bad("expected 'remotes' and 'default'")
    remotes = []
    for name, body in sorted((raw.get("remotes") or {}).items(), key=lambda kv: str(kv[0])):
        url = body.get("url") if isinstance(body, Mapping) else None
        options = body.get("options") or {} if isinstance(body, Mapping) else None
        if not isinstance(url, str) or not isinstance(options, Mapping):
            raise bad(f"remote {name!r} needs 'url' and optional 'options'")
        remotes.append(NamedRemote(str(name), url, dict(options)))
    default = raw.get("default")
    if default is not None and default not in {r.name for r in remotes}:
        raise bad(f"default {default!r} is not a remote")
    return RemotesConfig(tuple(remotes), default)


def write(path: Path, config: RemotesConfig) -> None:
    """Replace the config file atomically."""
    body: dict[str, Any] = {"default": config.default, "remotes": {
        r.name: {"url": r.url, **({"options": dict(r.options)} if r.options else {})}
        for r in config.remotes}}
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)
    atomic_write_text(path, HEADER + text)


def _unknown(name: str, config: RemotesConfig) -> RemoteConfigError:
    known = ", ".join(config.names()) or "none"
    return RemoteConfigError(f"unknown remote {name!r}{did_you_mean(name, config.names())}; "
                             f"known: {known}. Add it with `mlpipe remote add {name} URL`")


def added(config: RemotesConfig, remote: NamedRemote, make_default: bool) -> RemotesConfig:
    """The config with `remote` added (the default too with `make_default`, or when first).

    Raises:
        RemoteConfigError: A remote of that name exists.
    """
    existing = config.get(remote.name)
    if existing is not None:
        raise RemoteConfigError(f"remote {remote.name!r} exists ({existing.url}); remove it "
                                f"first with `mlpipe remote remove {remote.name}`")
    remotes = tuple(sorted((*config.remotes, remote), key=lambda r: r.name))
    default = remote.name if make_default or config.default is None else config.default
    return RemotesConfig(remotes, default)


def removed(config: RemotesConfig, name: str) -> RemotesConfig:
    """The config without remote `name` (no default when it was the default).

    Raises:
        RemoteConfigError: There is no such remote.
    """
    if config.get(name) is None:
        raise _unknown(name, config)
    return RemotesConfig(tuple(r for r in config.remotes if r.name != name),
                         None if config.default == name else config.default)


def with_default(config: RemotesConfig, name: str) -> RemotesConfig:
    """The config with `name` as the default.

    Raises:
        RemoteConfigError: There is no such remote.
    """
    if config.get(name) is None:
        raise _unknown(name, config)
    return RemotesConfig(config.remotes, name)


def _looks_like_url(value: str) -> bool:
    return "://" in value or "/" in value or value.startswith((".", "~"))


def choose(flag: str | None, config: RemotesConfig, pipeline: RemoteSpec | None,
           root: Path, cwd: Path) -> ChosenRemote:
    """The remote a command uses: the flag (a name, else a URL), else the config's default,
    else the pipeline file's `remote:` (a relative path there resolves against `root`).

    Raises:
        RemoteConfigError: The flag names no remote and is no URL, or nothing is set.
    """
    if flag is not None:
        named = config.get(flag)
        if named is not None:
            return ChosenRemote(named.url, named.options, f"remote '{named.name}'")
        if not _looks_like_url(flag):
            raise RemoteConfigError(str(_unknown(flag, config)) + f" (a directory: ./{flag})")
        return ChosenRemote(absolute(check_url(flag), cwd), {}, "--remote")
    if config.default is not None:
        named = config.get(config.default)
        assert named is not None  # read() checks the default names a remote
        return ChosenRemote(named.url, named.options, f"remote '{named.name}'")
    if pipeline is not None:
        return ChosenRemote(absolute(pipeline.url, root), pipeline.options, "the pipeline file")
    raise RemoteConfigError(f"no remote configured: {HOW_TO_SET}")


def update(state_dir: Path, change: Callable[[RemotesConfig], RemotesConfig]) -> RemotesConfig:
    """Read the config file of `state_dir`, apply `change`, write it back (atomically).

    Raises:
        RemoteConfigError: The file is unreadable, or `change` refuses.
    """
    path = config_path(state_dir)
    new = change(read(path))
    write(path, new)
    return new
