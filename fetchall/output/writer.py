"""Temporary body files (each a `bodyfile.BodyFile`) and their atomic commit into the output
directory.

Strategy: each body streams into ``ROOT/.fetchall-tmp/<pid>-<counter>-<token>.part`` (created
with O_EXCL) and is moved into place with one ``os.replace`` only when complete, so a final path
never holds a partial body. Before the rename every existing component of the destination is
``lstat``-ed (never followed): a symlink anywhere, a regular file where a directory is needed, a
directory where the file goes, or a path already committed in this run for a different URL makes
`commit` pick a fallback path instead:

- the last component gets ``~<8 hex of hash(key)>`` inserted before its extension (a second
  round uses a different hash of the key, and so on);
- a directory component that is a file or a symlink gets ``.d`` appended (``a`` -> ``a.d``),
  and the last component is tagged as above.

The checks repeat until a free path is found (at most `MAX_TRIES` rounds). With no symlink among
the components below the output directory's real path, the destination is inside it: nothing
is ever written outside ROOT.

Directory cache (per process, like the claims): every directory below ROOT that `commit` has
verified (``lstat``: a real directory, and so was every ancestor) or created itself is remembered
by path digest, with whether this process created it. A commit into a remembered directory skips
the ``lstat`` of the directory components and the ``makedirs``; into a directory this process
created it skips the ``lstat`` of the last component too, so it is one ``os.replace``: such a
directory started empty, and everything in it since was put there by this process (committed
files are claims, created directories are in the cache, and both are checked first). A directory
only *verified* still gets its last component ``lstat``-ed (a previous run, or anyone, may have
left a symlink or a directory there). What the cache cannot see is a change made behind the
process's back: replacing a verified directory by a symlink, or planting an entry in a created
one, takes write access to DIR (or a callback doing it itself), which is outside the threat model
(a hostile *server* controls names and bodies, never the local file system); even then nothing
is followed: ``os.replace`` replaces a symlink itself, and a directory in the way fails the commit.

Paths committed in this run are remembered compactly: ``hash()`` of the path -> ``hash()`` of
the key (per-process, seeded, 64-bit: fine because claims never leave the process), in a
`DigestMap`, which spills to a temporary SQLite table past a few thousand entries, so memory stays
flat in the number of files; on a case-insensitive file system the path is case-folded first.
Fallback names use a stable blake2b digest of the key instead, so they are the same every run.
A previous run's file at the same path is overwritten.
Commit from one process (the coordinator); temporary files may be created in any process,
since `OutputDir` pickles (without its claims and directory cache) and a closed `BodyFile`
pickles as path + size.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
import threading
import unicodedata
from collections.abc import Iterable
from hashlib import blake2b
from pathlib import Path
from typing import Any

from fetchall.digests import DigestMap
from fetchall.errors import OutputError, UsageError, reason
from fetchall.output.bodyfile import BodyFile
from fetchall.output.paths import safe_relpath, split_ext

TEMP_DIR = ".fetchall-tmp"
STATE_DIR = ".fetchall"
_PRIVATE_DIRS = frozenset({TEMP_DIR, STATE_DIR})
MAX_TRIES = 8
_O_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_RESERVED_KEY = -1  # claim of reserved paths: no key's ``hash()`` (of a str) is ever -1


class OutputDir:
    """The output directory: hands out temporary files and commits them atomically."""

    def __init__(
        self, root: str | Path, *, digest: bool = False, _checked: tuple[str, bool] | None = None
    ) -> None:
        self.root = Path(root)
        self.digest = digest  # bodies get a SHA-256 (`BodyFile.sha256`)
        if _checked is not None:  # unpickled in a worker process: checked already, in the parent
            self._set_paths(*_checked)
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            real = os.path.realpath(self.root)
            if not os.path.isdir(real):
                raise NotADirectoryError(20, "not a directory")
            if not os.access(real, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable")
        except OSError as exc:
            cause = exc.strerror or str(exc)  # (as the OS says it: not `reason`'s lower case)
            raise UsageError(f"cannot use output directory {root}: {cause}") from None
        self._set_paths(real, _case_insensitive(real))

    def _set_paths(self, real: str, fold_case: bool) -> None:
        """The checked paths, and this process's empty claims, created directories and lock."""
        self._real_root = real
        self._tmp = os.path.join(real, TEMP_DIR)
        self._fold_case = fold_case
        self._claims = DigestMap()  # path digest -> key digest; flat memory (digests.py)
        self._dirs: dict[int, bool] = {}  # path digest -> created by this process (see module doc)
        self._lock = threading.Lock()
        self._tmp_ready_pid = 0

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        """Pickle the checked paths, not the claims, directories or lock (per process); a
        ``__reduce__`` rather than ``__getstate__``, which a mypyc-compiled class cannot use:
        its ``__new__`` runs ``__init__``."""
        return _unpickled_output_dir, (self.root, self.digest, (self._real_root, self._fold_case))

    def new_temp(self) -> BodyFile:
        """A new, empty temporary file under ``ROOT/.fetchall-tmp``; raises `OutputError`."""
        pid, token = _process_tag()
        path = f"{self._tmp}/{pid}-{next(_COUNTER)}-{token}.part"
        try:
            if self._tmp_ready_pid != pid:
                self._prepare_temp_dir()
                self._tmp_ready_pid = pid
            fd = self._open_temp(path)
        except OSError as exc:
            raise OutputError(f"cannot create a temporary file: {reason(exc)}") from None
        return BodyFile(path, fd, digest=self.digest)

    def _open_temp(self, path: str) -> int:
        """Create the temp file ``path``; if the temp dir was removed meanwhile (another run
        into the same directory ended: see `remove_temps`), make it again and retry, up to
        `TEMP_DIR_RETRIES` times."""
        for _ in range(TEMP_DIR_RETRIES):
            try:
                return os.open(path, _O_FLAGS, 0o666)
            except FileNotFoundError:  # the temp dir was removed meanwhile
                with contextlib.suppress(FileNotFoundError):  # (and again before the lstat)
                    self._prepare_temp_dir()
        return os.open(path, _O_FLAGS, 0o666)

    def _prepare_temp_dir(self) -> None:
        """Create the temp dir if needed and make sure it is a real directory, not a symlink."""
        with contextlib.suppress(FileExistsError):
            os.mkdir(self._tmp)
        if not stat.S_ISDIR(os.lstat(self._tmp).st_mode):
            raise NotADirectoryError(20, f"{TEMP_DIR} is not a directory")

    def reserve(self, relpath: str) -> None:
        """Keep commits away from ``relpath`` (e.g. the report file inside ROOT)."""
        with self._lock:
            self._claims[self._path_digest(relpath)] = _RESERVED_KEY

    def commit(self, body: BodyFile, relpath: str, key: str) -> str:
        """Close ``body`` and move it to ``ROOT/relpath`` or a fallback; return the path used.

        ``key`` identifies the content (the URL). Raises `OutputError` (after discarding the
        temp file) if the file cannot be saved.
        """
        try:
            body.close()
            parts = safe_relpath(relpath).split("/")
            key_digest = hash(key)
            with self._lock:
                used, used_digest = self._place(parts, key, key_digest)
                os.replace(body._name, f"{self._real_root}/{used}")
                self._claims[used_digest] = key_digest
        except (OSError, ValueError) as exc:
            body.discard()
            raise OutputError(f"cannot save to {relpath}: {reason(exc)}") from exc
        return used

    def _place(self, parts: list[str], key: str, key_digest: int) -> tuple[str, int]:
        """Find a free destination for ``parts`` (see module docstring); create its parents.

        Returns the relative path and its path digest.
        """
        first = parts[0].casefold() if self._fold_case else parts[0]
        if first in _PRIVATE_DIRS:  # fetchall's own directories: never a saved file's place
            parts[0] += ".d"
        last = parts[-1]
        for attempt in range(1, MAX_TRIES + 1):
            joined = "/".join(parts)
            digest = self._path_digest(joined)
            parent = self._path_digest(joined[: -len(parts[-1]) - 1]) if len(parts) > 1 else None
            bad = self._conflict(parts, joined, digest, parent, key_digest)
            if bad is None:
                if parent is not None and parent not in self._dirs:
                    self._make_parents(parts)
                return joined, digest
            if bad < len(parts) - 1:
                parts[bad] += ".d"
            parts[-1] = _tagged(last, key, attempt)
        raise FileExistsError(17, "no free path found")

    def _make_parents(self, parts: list[str]) -> None:
        """Create the missing directories of ``parts[:-1]`` and remember them all (`_dirs`).

        Called right after `_conflict` found every existing component a real directory.
        """
        dirs = self._dirs
        path = self._real_root
        rel = ""
        for name in parts[:-1]:
            path = os.path.join(path, name)
            rel = f"{rel}/{name}" if rel else name
            digest = self._path_digest(rel)
            if digest in dirs:
                continue
            try:
                os.mkdir(path)
                dirs[digest] = True
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(path).st_mode):  # lstat: a symlink is not a dir
                    raise NotADirectoryError(20, "not a directory") from None
                dirs[digest] = False

    def _conflict(
        self, parts: list[str], joined: str, digest: int, parent: int | None, key_digest: int
    ) -> int | None:
        """Index of the first component that forbids using ``parts`` as is, or None if free.

        ``joined`` is ``"/".join(parts)``, ``digest`` its path digest and ``parent`` the path
        digest of its parent directory (None for a file directly in ROOT).
        """
        final = len(parts) - 1
        claim = self._claims.get(digest)
        if claim is not None and claim != key_digest:
            return final
        if digest in self._dirs:  # a directory this process created or verified
            return final
        if parent is not None:
            created = self._dirs.get(parent)
            if created is not None:  # every directory component is known good
                if created:
                    return None  # created by this process: only its own entries are in it
                try:
                    mode = os.lstat(os.path.join(self._real_root, joined)).st_mode
                except FileNotFoundError:
                    return None
                return final if stat.S_ISLNK(mode) or stat.S_ISDIR(mode) else None
        path = self._real_root
        for index, name in enumerate(parts):
            path = os.path.join(path, name)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                return None  # nothing below exists yet: makedirs creates real directories
            if stat.S_ISLNK(mode) or stat.S_ISDIR(mode) == (index == final):
                return index
        return None

    def _path_digest(self, relpath: str) -> int:
        if self._fold_case:
            relpath = unicodedata.normalize("NFC", relpath).casefold()
        return hash(relpath)

    def remove_stale_temps(self) -> None:
        """Delete the temp files of processes that are gone (a killed run's partial bodies)."""
        try:
            names = os.listdir(self._tmp)
        except OSError:
            return
        dead = {int(p) for p in {n.partition("-")[0] for n in names} if p.isdigit()} - {0}
        dead = {pid for pid in dead if not _alive(pid)}
        if dead:
            self.remove_temps(dead)

    def remove_temps(self, pids: Iterable[int] | None = None, *, keep_dir: bool = False) -> None:
        """Delete this process's (or ``pids``') leftover temp files; remove the dir if empty,
        unless ``keep_dir``: other processes may be writing into it (a cluster's workers each
        end a run per shard while the others go on; the coordinator removes it at the end)."""
        prefixes = tuple(f"{pid}-" for pid in (pids if pids is not None else [os.getpid()]))
        try:
            with os.scandir(self._tmp) as entries:
                for entry in entries:
                    if entry.name.startswith(prefixes) and entry.name.endswith(".part"):
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
        except OSError:
            return
        if not keep_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self._tmp)


TEMP_DIR_RETRIES = 3
"""How often `OutputDir.new_temp` makes the temp dir again when another process removed it
(between this process's ``mkdir`` and ``open`` too)."""

_COUNTER = itertools.count(1)  # process-wide: two OutputDirs on one root never share a name
_TAG: list[tuple[int, str]] = []  # this process's (pid, random token); reset in a forked child
os.register_at_fork(after_in_child=_TAG.clear)


def _process_tag() -> tuple[int, str]:
    """This process's pid and a random token, read once per process (not a ``getpid`` and a
    ``getrandom`` per file): a temp name is ``pid-counter-token``, unique among the processes of
    one machine by the pid and counter, and among machines sharing DIR (cluster workers) by the
    token."""
    if not _TAG:
        _TAG.append((os.getpid(), os.urandom(4).hex()))
    return _TAG[0]


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (someone else's counts as running; a zombie — killed,
    not yet reaped — does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _tagged(name: str, key: str, attempt: int) -> str:
    """``name`` with ``~<8 hex>`` (from the key and the attempt) before its extension: a stable
    blake2b digest, so a URL gets the same fallback name in every run."""
    stem, ext = split_ext(name)
    seed = _digest(key).to_bytes(8, "big", signed=True) + attempt.to_bytes(2, "big")
    return f"{stem}~{blake2b(seed, digest_size=4).hexdigest()}{ext}"


def _digest(text: str) -> int:
    """A signed 64-bit blake2b digest (compact dict key/value)."""
    data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big", signed=True)


def _case_insensitive(directory: str) -> bool:
    """Whether ``directory`` is on a case-insensitive file system (probe with a temp file)."""
    name = f".fetchall-case-probe-{os.getpid()}-{os.urandom(4).hex()}"
    probe = os.path.join(directory, name)
    try:
        os.close(os.open(probe, _O_FLAGS, 0o600))
    except OSError:
        return False
    try:
        return os.path.exists(os.path.join(directory, name.upper()))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


def _unpickled_output_dir(root: Path, digest: bool, checked: tuple[str, bool]) -> OutputDir:
    """An `OutputDir` from what its ``__reduce__`` pickled."""
    return OutputDir(root, digest=digest, _checked=checked)
