"""The one place for writing files and the small helpers every command shares.

* :class:`AtomicFile` / :func:`atomic_write_text` — the one atomic writer: a hidden ``.<name>.*.partial``
  temp file in the target folder, ``fsync`` then ``os.replace`` (the usual ``0666 & ~umask`` mode); an
  aborted write leaves nothing. :func:`clean_stale_partials` removes the temp files a killed run left.
* :func:`check_output_path` / :func:`plain_stem` — the output rules every command follows: an output is
  never one of the command's inputs, never a folder, and a ``--name`` is a plain file stem (no path).
* :func:`dumps_row` / :func:`loads_row` / :func:`dumps_document` — canonical JSON (deterministic bytes).
* :func:`sha256_file` / :class:`BackgroundHash` — hashing.
* :func:`progress` / :func:`gc_paused` — progress bars and streaming-loop hygiene.

Plain Python: imports neither LLaMA-Factory nor lmms-eval.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import re
import sys
import tempfile
from typing import Any, Iterable

#: environment switch for progress bars: "1" forces them on, "0" off; unset: on when stderr is a terminal
PROGRESS_ENV = "VSFA_PROGRESS"
READ_BLOCK = 1 << 22
#: suffix of the temp files :class:`AtomicFile` writes (and :func:`clean_stale_partials` removes)
PARTIAL_SUFFIX = ".partial"


class OutputError(ValueError):
    """An output the command must not write (it is an input, a folder, or a name that is not a plain stem)."""


try:  # ~10x faster than json.dumps; its output is byte-identical to the fallback below for our rows
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is in the pinned set (constraints.txt)
    _orjson = None


def dumps_row(row: Any, sort_keys: bool = False) -> str:
    """One row as compact JSON text (``{"a":1,"b":"é"}``): the row's own key order (or sorted), UTF-8 kept
    as is (no ``\\u`` escapes but for control characters), no newline inside. orjson when available, else
    ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` — the same bytes (tested)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(row, option=_orjson.OPT_SORT_KEYS if sort_keys else 0).decode("utf-8")
        except (TypeError, _orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits: the stdlib handles it
            pass
    return json.dumps(row, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":"))


def loads_row(data: bytes) -> Any:
    """Parse one row's bytes (orjson when it accepts them, else the stdlib, which also takes NaN etc.)."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps_document(obj: Any) -> str:
    """A small JSON document (stats, dataset_info) with sorted keys, 2-space indent and a final newline."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A file written to a hidden temp file next to ``path``; :meth:`commit` moves it into place
    (``fsync`` then ``os.replace``), :meth:`abort` deletes it. Text mode writes UTF-8 with ``\\n``."""

    def __init__(self, path: str | os.PathLike, binary: bool = False):
        self.path = os.path.abspath(os.fspath(path))
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        # the pid in the name lets a later run tell a killed run's leftovers from a live run's temp files
        fd, self.tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.{os.getpid()}.",
                                             suffix=PARTIAL_SUFFIX, dir=folder)
        if binary:
            self._f = os.fdopen(fd, "wb")
        else:
            self._f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self.done = False

    def write(self, data) -> None:
        self._f.write(data)

    def prepare(self) -> None:
        """Flush the data to disk (where a full disk shows), ready for :meth:`commit`'s rename."""
        if self.done or self._f.closed:
            return
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.chmod(self.tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        except BaseException:
            self.abort()  # disk full, read-only folder, ^C: leave no temp file behind
            raise

    def commit(self) -> str:
        if self.done:
            return self.path
        self.prepare()
        try:
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self.done = True
        return self.path

    def abort(self) -> None:
        if self.done:
            return
        try:
            with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails again
                self._f.close()
        finally:
            self.done = True
            try:
                os.unlink(self.tmp_path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def atomic_write_text(path: str | os.PathLike, text: str) -> str:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``path`` atomically; returns the absolute path."""
    with AtomicFile(path) as f:
        f.write(text)
    return f.path


class BackgroundHash:
    """sha256 of a stream of blocks, computed on a helper thread (hashlib releases the GIL on large
    buffers), so hashing a big source costs no time next to parsing it. ``hexdigest`` waits for it."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._digest = hashlib.sha256()
        self._pool = ThreadPoolExecutor(max_workers=1)  # one worker: blocks are hashed in order
        self._last = None

    def update(self, data: bytes) -> None:
        self._last = self._pool.submit(self._digest.update, data)

    def hexdigest(self) -> str:
        self._pool.shutdown(wait=True)
        return self._digest.hexdigest()


def sha256_file(path: str | os.PathLike, block: int = READ_BLOCK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()



@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector over a streaming loop: each row's objects die by reference
    counting, and the collector's passes over millions of short-lived containers only cost time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "", unit: str = "rows", **kw):
    """A tqdm bar on stderr (off when stderr is not a terminal, unless ``VSFA_PROGRESS=1``)."""
    from tqdm import tqdm

    env = os.environ.get(PROGRESS_ENV)
    disable = None if env is None else env in ("0", "")
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, mininterval=0.5,
                dynamic_ncols=True, leave=False, **kw)




# --------------------------------------------------------------------------------------------------
# output rules: never replace an input, never write outside the named folder, names are plain stems
# --------------------------------------------------------------------------------------------------

_STEM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def plain_stem(name: str, what: str = "--name") -> str:
    """``name`` when it is a plain file stem (letters, digits, ``._+-``; no path, no leading dot), else
    :class:`OutputError` — so a dataset name can never point a write outside the output folder."""
    if not isinstance(name, str) or not _STEM_RE.fullmatch(name) or ".." in name:
        raise OutputError(
            f"{what} {name!r} is not a plain file stem: use letters, digits and . _ + - (no '/', no '..', "
            f"not starting with a dot), at most 128 characters")
    return name


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                      what: str = "output") -> str:
    """The absolute path of an output, after the checks every command makes before writing it: it is not
    one of ``inputs`` (same file, symlinks and hard links included), not an existing folder. Raises
    :class:`OutputError` naming both paths."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{what} {path} is a folder; name a file")
    for source in inputs:
        if source is None:
            continue
        source = os.path.abspath(os.fspath(source))
        if _same_file(path, source):
            raise OutputError(
                f"{what} {path} is also an input ({source}); refusing to overwrite an input — choose another "
                f"output path")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or a number we cannot ask about): leave its files alone
    return True


def clean_stale_partials(folder: str | os.PathLike, names: Iterable[str]) -> list[str]:
    """Remove the ``.<name>.<pid>.*.partial`` temp files that a killed run left in ``folder`` for the given
    output ``names`` — only those whose process is gone (a live concurrent run keeps its own), and only
    regular files of ours (other hidden files are not touched). Returns the removed paths."""
    folder = os.fspath(folder)
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        prefix = f".{name}."
        for entry in entries:
            if not (entry.startswith(prefix) and entry.endswith(PARTIAL_SUFFIX)):
                continue
            pid = entry[len(prefix):].split(".", 1)[0]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            full = os.path.join(folder, entry)
            with contextlib.suppress(OSError):
                if os.path.isfile(full) and not os.path.islink(full):
                    os.unlink(full)
                    removed.append(full)
    return removed


def error_text(err: BaseException) -> str:
    """One line for a user: an ``OSError`` as ``path: reason`` (``No space left on device``, ``Read-only
    file system``), anything else as its message — what a CLI prints after ``error:`` instead of a
    traceback."""
    if isinstance(err, OSError) and err.strerror:
        where = err.filename if err.filename is not None else ""
        return f"{where}: {err.strerror}" if where else err.strerror
    return str(err)
