"""Rows with their location — a view of the one reader, :func:`.scan.scan_rows` — and small JSON documents.

Every row is yielded as ``(location, obj)`` where ``location`` names the file, the 1-based line the row
starts on and its 0-based row index, so every later error can point at ``file:line``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

from ..io import READ_BLOCK
from .errors import Location, RecordError
from .scan import json_failure, scan_rows

#: JSON arrays are read in blocks of this many bytes, so memory stays bounded on big files
_CHUNK = READ_BLOCK


def iter_json_rows(path: str | os.PathLike) -> Iterator[tuple[Location, Any]]:
    """Yield rows of a ``.json`` (a top-level array) or ``.jsonl`` file with their location.

    Raises :class:`RecordError` naming ``file:line`` (with its ``reason``) at the first bad row: non-UTF-8
    bytes, malformed JSON, a truncated file, a top level that is not an array, nesting too deep, a number
    too long.
    """
    for scanned in scan_rows(path, block=_CHUNK):
        if scanned.error is not None:
            raise scanned.error
        yield Location(scanned.path, scanned.line, scanned.row), scanned.obj


def read_json_document(path: str | os.PathLike, max_bytes: int = 64 << 20) -> Any:
    """Parse one small JSON document (a ``dataset_info.json``, a config): :class:`RecordError` naming
    ``file:line`` for non-UTF-8 bytes, malformed JSON, nesting too deep or a number too long, and for a
    file over ``max_bytes``."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise RecordError(f"{path}: {size} bytes, more than the {max_bytes} a JSON document may have here",
                              "file_too_large")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise RecordError(f"{path}: cannot read ({err.strerror or err})", "unreadable") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise RecordError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start})", "non_utf8") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason, what, pos = json_failure(exc, text, 0)
        if isinstance(exc, json.JSONDecodeError):
            what = f"malformed JSON ({exc.msg}, column {exc.colno})"
        raise RecordError(f"{path}:{text.count(chr(10), 0, pos) + 1}: {what}", reason) from None


def non_utf8_where(path: str | os.PathLike, shown: str | None = None) -> str:
    """``file:LINE: not valid UTF-8 (<reason> at byte N of the line)`` for the first bad byte of a text file,
    for readers that decode through ``open(encoding="utf-8")`` (CSV, lexicons, small JSON files), whose
    ``UnicodeDecodeError`` only knows an offset into its read buffer. ``shown``: the path as to be printed."""
    shown = os.fspath(path) if shown is None else shown
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return f"{shown}:{line_no}: not valid UTF-8 ({err.reason} at byte {err.start} of the line)"
    return f"{shown}: not valid UTF-8"


__all__ = ["Location", "iter_json_rows", "non_utf8_where", "read_json_document"]
