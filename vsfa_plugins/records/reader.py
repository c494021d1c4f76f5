"""Streaming readers for JSON-array and JSONL files that remember where each row came from.

Every row is yielded as ``(location, obj)`` where ``location`` names the file, the 1-based line the row
starts on and its 0-based row index, so every later error can point at ``file:line``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import RecordError

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"
#: JSON arrays are parsed in chunks of this many characters, so memory stays bounded on big files
_CHUNK = 1 << 22


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    row: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} (row {self.row})"


def iter_json_rows(path: str | os.PathLike) -> Iterator[tuple[Location, Any]]:
    """Yield rows of a ``.json`` (a top-level array) or ``.jsonl`` file with their location.

    Raises :class:`RecordError` naming ``file:line`` for non-UTF-8 bytes, malformed JSON, a truncated
    file or a top level that is not an array.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RecordError(f"{path}: file not found")
    if path.endswith(".jsonl"):
        yield from _iter_jsonl(path)
    else:
        yield from _iter_json_array(path)


def _open_text(path: str):
    return open(path, encoding="utf-8", errors="strict", newline="")


def _decode_error(path: str, line: int, err: UnicodeDecodeError) -> RecordError:
    return RecordError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start} of the line)")


def _iter_jsonl(path: str) -> Iterator[tuple[Location, Any]]:
    row = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _decode_error(path, line_no, err) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                raise RecordError(f"{path}:{line_no}: malformed JSON line ({err.msg}, column {err.colno})") from None
            yield Location(path, line_no, row), obj
            row += 1


def _iter_json_array(path: str) -> Iterator[tuple[Location, Any]]:
    """Incremental parse of ``[obj, obj, ...]`` with ``raw_decode`` over a sliding text buffer."""
    with _open_text(path) as f:
        state = {"buf": "", "eof": False, "mark": 0, "mark_line": 1}

        def fill() -> bool:
            if state["eof"]:
                return False
            try:
                chunk = f.read(_CHUNK)
            except UnicodeDecodeError as err:
                raise RecordError(f"{path}: not valid UTF-8 near byte {err.start} of a read block") from None
            if not chunk:
                state["eof"] = True
                return False
            state["buf"] += chunk
            return True

        def line_at(pos: int) -> int:
            # newlines are counted once, moving a mark forward, so the cost stays linear in file size
            state["mark_line"] += state["buf"].count("\n", state["mark"], pos)
            state["mark"] = pos
            return state["mark_line"]

        def skip_ws(pos: int) -> int:
            while True:
                buf = state["buf"]
                while pos < len(buf) and buf[pos] in _WS:
                    pos += 1
                if pos < len(buf) or not fill():
                    return pos

        fill()
        pos = skip_ws(0)
        if pos >= len(state["buf"]):
            raise RecordError(f"{path}:1: empty file (expected a JSON array of rows)")
        if state["buf"][pos] != "[":
            raise RecordError(f"{path}:{line_at(pos)}: expected a JSON array of rows, found {state['buf'][pos]!r}")
        pos += 1
        row = 0
        expect_value = True
        while True:
            pos = skip_ws(pos)
            buf = state["buf"]
            if pos >= len(buf):
                raise RecordError(f"{path}:{line_at(pos)}: truncated file (array never closed)")
            ch = buf[pos]
            if ch == "]" and (row == 0 or not expect_value):
                return
            if not expect_value:
                if ch != ",":
                    raise RecordError(f"{path}:{line_at(pos)}: expected ',' or ']' between rows")
                pos += 1
                expect_value = True
                continue
            while True:
                try:
                    obj, end = _DECODER.raw_decode(state["buf"], pos)
                    break
                except json.JSONDecodeError as err:
                    if fill():  # the row may just be cut by the chunk boundary
                        continue
                    at = line_at(max(err.pos, pos))
                    if len(state["buf"][err.pos :].strip()) == 0:
                        raise RecordError(f"{path}:{at}: truncated file ({err.msg})") from None
                    raise RecordError(f"{path}:{at}: malformed JSON ({err.msg})") from None
            yield Location(path, line_at(pos), row), obj
            row += 1
            expect_value = False
            pos = end
            if pos > _CHUNK:  # drop consumed text so memory stays bounded
                line_at(pos)
                state["buf"] = state["buf"][pos:]
                state["mark"] = 0
                pos = 0


def count_rows(path: str | os.PathLike) -> int:
    return sum(1 for _ in iter_json_rows(path))


def read_json_document(path: str | os.PathLike, max_bytes: int = 64 << 20) -> Any:
    """Parse one small JSON document (a ``dataset_info.json``, a config): :class:`RecordError` naming
    ``file:line`` for non-UTF-8 bytes or malformed JSON, and for a file over ``max_bytes``."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise RecordError(f"{path}: {size} bytes, more than the {max_bytes} a JSON document may have here")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise RecordError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise RecordError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}:{err.lineno}: malformed JSON ({err.msg}, column {err.colno})") from None
    except RecursionError:
        raise RecordError(f"{path}: JSON nested too deeply") from None
