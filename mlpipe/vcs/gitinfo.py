"""Everything mlpipe asks git, behind small typed functions; the only module importing gitpython.

Outside a git repository, or without git installed, every function answers None/False/{}
instead of raising: mlpipe works in a plain directory too, it just records no commit.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from git import Repo


_REPOS: dict[Path, Repo] = {}
_KEEP = 4  # repositories kept open; each may hold `git cat-file` processes, closed on eviction


def _repo(path: Path) -> Repo | None:
    """The repository holding `path`; the last few found are remembered (misses are not), and
    one pushed out is closed, so a process that visits many repositories keeps few open."""
    if path in _REPOS:
        _REPOS[path] = _REPOS.pop(path)  # now the most recent
        return _REPOS[path]
    try:
        import git
    except ImportError:  # git executable missing
        return None
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return None
    _REPOS[path] = repo
    while len(_REPOS) > _KEEP:
        _REPOS.pop(next(iter(_REPOS))).close()
    return repo


def close_all() -> None:
    """Close every remembered repository (and the git processes it started)."""
    while _REPOS:
        _REPOS.popitem()[1].close()


def repo_root(path: Path) -> Path | None:
    """The work tree that holds `path`, or None."""
    repo = _repo(path)
    return Path(repo.working_tree_dir) if repo and repo.working_tree_dir else None


def head_commit(path: Path) -> str | None:
    """The commit HEAD points at, or None (no repository, or no commit yet)."""
    repo = _repo(path)
    if repo is None:
        return None
    try:
        return repo.head.commit.hexsha
    except ValueError:
        return None


def is_dirty(path: Path) -> bool:
    """Whether tracked files differ from HEAD (untracked files do not count)."""
    repo = _repo(path)
    return bool(repo and repo.is_dirty(untracked_files=False))


def clean_blob_ids(path: Path, files: Iterable[Path]) -> dict[Path, str]:
    """Git blob ids of those `files` whose blob is byte for byte the work-tree file.

    A file qualifies only when it is a regular tracked file (mode 100644/100755, stage 0), git
    compares it for real (not marked assume-unchanged or skip-worktree), `git diff-files`
    finds it unchanged, and no attribute or setting converts it between blob and work tree
    (eol/text conversion, `core.autocrlf`, clean/smudge filters such as Git LFS, `ident`,
    `working-tree-encoding`). Paths reach git through stdin or in batches below the argument
    limit, so any number of files works.
    """
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return {}
    top = Path(repo.working_tree_dir)
    rel = {}
    for file in files:
        try:
            rel[file.relative_to(top).as_posix()] = file
        except ValueError:
            continue
    if not rel:
        return {}
    try:
        blobs = _index_blobs(top, rel)
        modified = _modified(top, list(blobs))
        blobs = {name: blob for name, blob in blobs.items() if name not in modified}
        unconverted = _unconverted(top, list(blobs))
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {rel[name]: blob for name, blob in blobs.items() if name in unconverted}


# Bytes of pathspecs per git command line: far below ARG_MAX (often 2 MiB, shared with the
# environment) and below the per-argument and per-command limits of every platform git runs on.
_ARGS_BUDGET = 64 << 10
_LITERAL = ("git", "--literal-pathspecs")


def _git(top: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run([*_LITERAL, *args], cwd=top, input=stdin, capture_output=True,
                          check=True).stdout


def _pathspecs(names: Iterable[str]) -> list[list[str]]:
    """Batches of `names` whose command lines stay within _ARGS_BUDGET."""
    batches: list[list[str]] = [[]]
    size = 0
    for name in names:
        if size + len(name) + 1 > _ARGS_BUDGET and batches[-1]:
            batches.append([])
            size = 0
        batches[-1].append(name)
        size += len(name) + 1
    return batches


def _covering(names: list[str]) -> list[list[str]]:
    """Pathspec batches that cover `names`: the names themselves when they fit in one batch,
    else their parent directories when those do (git lists a superset, filtered by the
    caller), else the whole index in one command."""
    batches = _pathspecs(names)
    if len(batches) == 1:
        return batches
    parents = sorted({name.rpartition("/")[0] or "." for name in names})
    batches = _pathspecs(parents)
    return batches if len(batches) == 1 else [[]]


def _index_blobs(top: Path, rel: dict[str, Path]) -> dict[str, str]:
    """Name -> blob id from the index, for regular files git itself compares."""
    found: dict[str, str] = {}
    for batch in _covering(list(rel)):
        out = _git(top, "ls-files", "--stage", "-v", "-z", "--", *batch)
        for row in out.split(b"\0"):
            meta, _, raw_name = row.partition(b"\t")
            name = raw_name.decode("utf-8", "surrogateescape")
            fields = meta.split()
            # Tag H: tracked and compared; lowercase = assume-unchanged, S = skip-worktree.
            if name in rel and len(fields) == 4 and fields[0] == b"H" and (
                    fields[1] in (b"100644", b"100755") and fields[3] == b"0"):
                found[name] = fields[2].decode()
    return found


def _modified(top: Path, names: list[str]) -> set[str]:
    """Which of `names` differ from the index in the work tree (by git's own check)."""
    changed: set[str] = set()
    for batch in _covering(names) if names else []:
        out = _git(top, "diff-files", "--name-only", "-z", "--", *batch)
        changed.update(n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n)
    return changed


_CONVERTING = ("filter", "ident", "working-tree-encoding")


def _unconverted(top: Path, names: list[str]) -> set[str]:
    """Which of `names` git stores exactly as they are in the work tree."""
    if not names:
        return set()
    autocrlf = _git_config(top, "core.autocrlf").lower() not in ("", "false", "no", "off", "0")
    stdin = b"".join(name.encode("utf-8", "surrogateescape") + b"\0" for name in names)
    out = _git(top, "check-attr", "--stdin", "-z", "text", "eol", "crlf", *_CONVERTING,
               stdin=stdin).split(b"\0")
    attrs: dict[str, dict[str, str]] = {}
    for i in range(0, len(out) - 2, 3):
        name = out[i].decode("utf-8", "surrogateescape")
        attrs.setdefault(name, {})[out[i + 1].decode()] = out[i + 2].decode()
    return {name for name, found in attrs.items() if _as_is(found, autocrlf)}


def _as_is(attrs: dict[str, str], autocrlf: bool) -> bool:
    """Whether a file with these attributes is stored without conversion."""
    if any(attrs.get(name, "unspecified") not in ("unspecified", "unset")
           for name in _CONVERTING):
        return False
    text = attrs.get("text", "unspecified")
    if text == "unspecified":
        text = {"set": "set", "unset": "unset", "input": "set"}.get(
            attrs.get("crlf", "unspecified"), "unspecified")
    if text == "unset":
        return True  # binary: never converted
    return text == "unspecified" and attrs.get("eol", "unspecified") == "unspecified" and (
        not autocrlf)


def _git_config(top: Path, key: str) -> str:
    try:
        return _git(top, "config", "--get", key).decode().strip()
    except subprocess.CalledProcessError:  # unset
        return ""


def hooks_dir(path: Path) -> tuple[Path, Path] | None:
    """The work tree's top and its hooks directory (honouring core.hooksPath), or None."""
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return None
    top = Path(repo.working_tree_dir)
    return top, top / repo.git.rev_parse("--git-path", "hooks")


def file_at_rev(path: Path, rev: str, file: Path) -> bytes | None:
    """The content of `file` at git revision `rev` (None when the file or the rev is absent).

    Args:
        path: Any path inside the repository.
        rev: A revision git understands (branch, tag, sha, `HEAD~1`).
        file: The file, absolute or relative to the current directory.
    """
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return None
    import git

    rel = Path(file).resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    try:
        blob = repo.commit(rev).tree / rel
    except (KeyError, ValueError, git.BadName, git.GitCommandError):
        return None
    return blob.data_stream.read()


def resolve_rev(path: Path, rev: str) -> str | None:
    """The commit sha `rev` names, or None when it names none this clone holds.

    git itself answers (not gitpython's reading of commit objects), so in a shallow clone a
    parent beyond the cut (`HEAD~1`, `HEAD^2` of a depth-1 merge) names none.
    """
    repo = _repo(path)
    if repo is None:
        return None
    import git

    try:
        return repo.git.rev_parse("--verify", "--quiet", "--end-of-options",
                                  f"{rev}^{{commit}}").strip() or None
    except git.GitCommandError:
        return None


def is_shallow(path: Path) -> bool:
    """Whether the repository holding `path` is a shallow clone (part of its history cut)."""
    repo = _repo(path)
    if repo is None:
        return False
    return repo.git.rev_parse("--is-shallow-repository").strip() == "true"


def commits(path: Path, file: Path | None = None, limit: int = 100) -> list[tuple[str, str]]:
    """(sha, subject) of commits reachable from HEAD, newest first; only those touching `file`."""
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return []
    import git

    paths = []
    if file is not None:
        paths = [Path(file).resolve().relative_to(
            Path(repo.working_tree_dir).resolve()).as_posix()]
    try:
        return [(c.hexsha, c.summary if isinstance(c.summary, str) else c.summary.decode())
                for c in repo.iter_commits("HEAD", paths=paths, max_count=limit)]
    except (ValueError, git.GitCommandError):
        return []


def file_history(path: Path, file: Path) -> list[tuple[str, bytes]]:
    """Every distinct content `file` had in a commit reachable from any branch, tag or HEAD.

    Args:
        path: Any path inside the repository.
        file: The file, absolute or relative to the current directory.

    Returns:
        (sha of a commit holding that content, content), one per distinct content; [] outside
        a repository or when no commit holds the file.
    """
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return []
    import git

    top = Path(repo.working_tree_dir).resolve()
    try:
        rel = Path(file).resolve().relative_to(top).as_posix()
    except ValueError:
        return []
    seen: set[str] = set()
    found: list[tuple[str, bytes]] = []
    try:
        for commit in repo.iter_commits("--all", paths=[rel], full_history=True):
            try:
                blob = commit.tree / rel
            except KeyError:  # the commit deleted the file
                continue
            if blob.hexsha not in seen:
                seen.add(blob.hexsha)
                found.append((commit.hexsha, blob.data_stream.read()))
    except (ValueError, git.GitCommandError):
        return found
    return found


@contextmanager
def worktree(path: Path, rev: str) -> Iterator[Path]:
    """A temporary detached worktree of the repository at `rev`; removed afterwards.

    Submodules this checkout has initialised are checked out in it too, at the commits `rev`
    records, as worktrees of the checkout's own submodule repositories (nothing is fetched).

    Raises:
        ValueError: Not a git repository, or `rev` names no commit.
    """
    repo = _repo(path)
    sha = resolve_rev(path, rev)
    if repo is None or sha is None or repo.working_tree_dir is None:
        raise ValueError(f"{rev}: not a revision of a git repository at {path}")
    top = Path(repo.working_tree_dir)
    with tempfile.TemporaryDirectory(prefix="mlpipe-worktree-") as scratch:
        tree = Path(scratch) / "tree"
        repo.git.worktree("add", "--detach", str(tree), sha)
        subs: list[str] = []
        try:
            for sub, commit in _gitlinks(repo, sha):
                if (top / sub / ".git").exists() and _has_object(top / sub, f"{commit}^{{commit}}"):
                    _git_stdin(top / sub, ["worktree", "add", "--detach", str(tree / sub),
                                           commit], b"")
                    subs.append(sub)
            yield tree
        finally:
            for sub in subs:
                _git_stdin(top / sub, ["worktree", "remove", "--force", str(tree / sub)], b"")
            repo.git.worktree("remove", "--force", str(tree))


def tracked_under(path: Path, target: Path) -> list[str]:
    """Files git tracks at or under `target` (paths relative to the repository's top)."""
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return []
    import git

    try:
        rel = target.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
        return [name for name in repo.git.ls_files("-z", "--", rel).split("\0") if name]
    except (ValueError, git.GitCommandError):
        return []


def _gitlinks(repo: Repo, sha: str) -> list[tuple[str, str]]:
    """(path, commit) of the submodules the tree of `sha` records (none without .gitmodules)."""
    if not _has_object(Path(repo.working_tree_dir or "."), f"{sha}:.gitmodules"):
        return []
    listed = repo.git.ls_tree("-r", "-z", sha).split("\0")
    links = []
    for row in filter(None, listed):
        meta, _, name = row.partition("\t")
        _, kind, commit = meta.split()
        if kind == "commit":
            links.append((name, commit))
    return links


def _has_object(path: Path, name: str) -> bool:
    """Whether the repository at `path` holds the object `name` (`sha^{commit}`, `sha:path`)."""
    try:
        _git_stdin(path, ["cat-file", "-e", name], b"")
    except ValueError:
        return False
    return True


def index_files(top: Path, pathspecs: Iterable[str]) -> list[str]:
    """Paths (from the top) of the files the index holds at or under `pathspecs`.

    Each pathspec is taken literally (no glob); a directory matches everything in it. The
    index is the one git points hooks at (`GIT_INDEX_FILE` during `git commit -a`).
    """
    specs = [f":(literal){spec}" for spec in pathspecs]
    if not specs:
        return []
    out = _git_stdin(top, ["ls-files", "-z", "--cached", "--", *specs], b"")
    return [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def export_index(top: Path, files: Iterable[str], dest: Path) -> None:
    """Write the staged content of `files` (paths from the top) under `dest`, same layout.

    The names go to git on stdin, so any number of files fits.
    """
    names = "\0".join(files).encode("utf-8", "surrogateescape")
    if names:
        _git_stdin(top, ["checkout-index", "-z", "--stdin", "--force",
                         f"--prefix={dest.as_posix()}/"], names + b"\0")


def _git_stdin(top: Path, args: list[str], data: bytes) -> bytes:
    """Run git in `top` with `data` on stdin; its stdout. Raises ValueError when git fails."""
    import subprocess

    done = subprocess.run(["git", *args], cwd=top, input=data, capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValueError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return done.stdout


def snapshot_commit(path: Path) -> str | None:
    """A commit holding the work tree's tracked files as they are now (HEAD when they match
    it; else a commit `git stash create` makes, touching neither the work tree nor any
    branch), or None outside a repository or before the first commit."""
    repo = _repo(path)
    head = head_commit(path)
    if repo is None or head is None:
        return None
    import git

    try:
        made = repo.git.stash("create").strip()
    except git.GitCommandError:
        return head
    return made or head


def prune_worktrees(path: Path) -> None:
    """Forget worktrees whose directory is gone (left by a killed process)."""
    repo = _repo(path)
    if repo is not None:
        repo.git.worktree("prune")


def commit_all(tree: Path, message: str) -> str:
    """Commit every change in the worktree `tree` (as its user config says) and return the
    new commit."""
    import git

    repo = git.Repo(tree)
    repo.git.add("-A")
    repo.git.commit("-q", "--no-verify", "-m", message)
    return repo.head.commit.hexsha


def create_branch(path: Path, name: str, commit: str) -> None:
    """Create branch `name` at `commit` (refused by git when it exists).

    Raises:
        ValueError: git refused (an existing branch, an invalid name).
    """
    import git

    repo = _repo(path)
    if repo is None:
        raise ValueError("not a git repository")
    try:
        repo.git.branch(name, commit)
    except git.GitCommandError as exc:
        raise ValueError(str(exc.stderr).strip().removeprefix("stderr: ").strip("'\n ")) from None


def checkout_files(tree: Path, commit: str) -> None:
    """Make the worktree `tree`'s tracked files those of `commit` (HEAD stays)."""
    import git

    git.Repo(tree).git.checkout(commit, "--", ".")


def worktree_paths(path: Path) -> list[Path]:
    """The repository's linked worktrees (not the main one)."""
    repo = _repo(path)
    if repo is None:
        return []
    listed = repo.git.worktree("list", "--porcelain").splitlines()
    trees = [Path(line.removeprefix("worktree ")) for line in listed
             if line.startswith("worktree ")]
    return trees[1:]


def remove_worktree(path: Path, tree: Path) -> None:
    """Remove a linked worktree, even with changes in it."""
    import git

    repo = _repo(path)
    if repo is not None:
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("remove", "--force", str(tree))
