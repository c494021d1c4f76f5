"""Streaming rows of a ``.json`` array or ``.jsonl`` file with their ``file:line`` and byte range.

JSON arrays and JSONL files are streamed once to index each row's byte range; selected rows are then
read back by offset with ``os.pread`` (:func:`read_row_at`). Memory stays a few numbers per row, however
big the file.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from typing import Any, Callable, Iterator

from ..io import READ_BLOCK as _READ_BLOCK, loads_row
from .errors import BadRow, RecordError
from .reader import Location

_DECODER = json.JSONDecoder()


class ScannedRow:
    """One row met while scanning: its 1-based line, 0-based row index, byte range in the file, and the
    parsed value (or the :class:`BadRow` it raised, for a JSONL line that is not valid JSON/UTF-8)."""

    __slots__ = ("path", "line", "row", "start", "length", "obj", "error")

    def __init__(self, path: str, line: int, row: int, start: int, length: int, obj: Any = None,
                 error: "BadRow | None" = None):
        self.path, self.line, self.row, self.start, self.length, self.obj, self.error = (
            path, line, row, start, length, obj, error)

    @property
    def loc(self) -> Location:
        return Location(self.path, self.line, self.row)


def scan_rows(path: str | os.PathLike, block: int = _READ_BLOCK, on_bytes: Callable[[bytes], None] | None = None
              ) -> Iterator[ScannedRow]:
    """Yield every row of a ``.json`` array or ``.jsonl`` file with its ``file:line``, row index and byte
    range (so it can be read back with :func:`read_row_at`). ``on_bytes`` sees every block read (used to
    hash the file in the same pass).

    A JSONL line that is not JSON / not UTF-8 is yielded with ``error`` set (the caller decides: raise, or
    reject it under ``--skip-bad``). In a JSON array such an error ends the file: :class:`RecordError`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RecordError(f"{path}: file not found")
    if path.endswith(".jsonl"):
        yield from _scan_jsonl(path, block, on_bytes)
    else:
        yield from _scan_json_array(path, block, on_bytes)


def _scan_jsonl(path: str, block: int, on_bytes) -> Iterator[ScannedRow]:
    row = 0
    offset = 0
    line_no = 0
    loads = json.loads
    with open(path, "rb", buffering=block) as f:
        lines = f if on_bytes is None else _tee(f, on_bytes)
        for raw in lines:
            line_no += 1
            start = offset
            offset += len(raw)
            if raw.isspace() or not raw:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield ScannedRow(path, line_no, row, start, len(raw), error=BadRow(
                    f"{path}:{line_no}: not valid UTF-8 ({err.reason} at byte {err.start} of the line)", "non_utf8",
                    Location(path, line_no, row)))
                row += 1
                continue
            try:
                obj = loads(text)
            except json.JSONDecodeError as err:
                yield ScannedRow(path, line_no, row, start, len(raw), error=BadRow(
                    f"{path}:{line_no}: malformed JSON line ({err.msg}, column {err.colno})", "malformed_json",
                    Location(path, line_no, row)))
                row += 1
                continue
            yield ScannedRow(path, line_no, row, start, len(raw), obj)
            row += 1


def _tee(f, on_bytes):
    for line in f:
        on_bytes(line)
        yield line


_SKIP_WS = re.compile(r"[ \t\r\n]*").match


def _scan_json_array(path: str, block: int, on_bytes) -> Iterator[ScannedRow]:
    """Incremental ``raw_decode`` over a sliding text window, tracking lines and byte offsets.

    Byte offsets: while the window is pure ASCII (``str.isascii`` is O(1)) characters map to bytes 1:1;
    otherwise the text between two marks is re-encoded once, so the cost stays linear in the file size.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    scan_once = _DECODER.scan_once  # the C scanner behind raw_decode, without its Python wrapper
    f = open(path, "rb", buffering=0)
    state = {"eof": False, "read": 0}

    def more() -> str:
        """The next block of text ('' at the end of the file)."""
        if state["eof"]:
            return ""
        data = f.read(block)
        if on_bytes is not None and data:
            on_bytes(data)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as err:
            bad = state["read"] + err.start
            raise RecordError(f"{path}:{_line_of_byte(path, bad)}: not valid UTF-8 ({err.reason} at byte {bad})") from None
        state["read"] += len(data)
        if not data:
            state["eof"] = True
        return text

    with f:
        buf = more()
        base_byte = 0  # byte offset of buf[0]
        line_pos, line_no = 0, 1  # buf index whose line is known
        mark_pos, mark_byte = 0, 0  # buf index whose byte offset is known (non-ASCII windows)

        pos = _SKIP_WS(buf, 0).end()
        while pos >= len(buf):
            chunk = more()
            if not chunk:
                raise RecordError(f"{path}:1: empty file (expected a JSON array of rows)")
            buf += chunk
            pos = _SKIP_WS(buf, pos).end()
        if buf[pos] != "[":
            raise RecordError(f"{path}:{1 + buf.count(chr(10), 0, pos)}: expected a JSON array of rows, found {buf[pos]!r}")
        pos += 1
        row = 0
        expect_value = True
        while True:
            pos = _SKIP_WS(buf, pos).end()
            if pos >= len(buf):
                chunk = more()
                if chunk:
                    buf += chunk
                    continue
                raise RecordError(f"{path}:{line_no + buf.count(chr(10), line_pos, pos)}: truncated file (array never closed)")
            ch = buf[pos]
            if not expect_value:
                if ch == "]":
                    break
                if ch != ",":
                    raise RecordError(f"{path}:{line_no + buf.count(chr(10), line_pos, pos)}: expected ',' or ']' between rows")
                pos += 1
                expect_value = True
                continue
            if ch == "]" and row == 0:
                break
            try:
                obj, end = scan_once(buf, pos)
            except (StopIteration, json.JSONDecodeError) as exc:  # StopIteration: no value at ``pos``
                err_pos, msg = (exc.value, "Expecting value") if isinstance(exc, StopIteration) else (exc.pos, exc.msg)
                chunk = more()  # the row may just be cut by the block boundary
                if chunk:
                    buf += chunk
                    continue
                at = line_no + buf.count("\n", line_pos, max(err_pos, pos))
                if not buf[err_pos:].strip():
                    raise RecordError(f"{path}:{at}: truncated file ({msg})") from None
                raise RecordError(f"{path}:{at}: malformed JSON ({msg})") from None
            line_no += buf.count("\n", line_pos, pos)
            line_pos = pos
            if buf.isascii():
                start, stop = base_byte + pos, base_byte + end
            else:
                mark_byte += len(buf[mark_pos:pos].encode("utf-8"))
                start = mark_byte
                mark_byte += len(buf[pos:end].encode("utf-8"))
                mark_pos = end
                stop = mark_byte
            yield ScannedRow(path, line_no, row, start, stop - start, obj)
            row += 1
            expect_value = False
            pos = end
            if pos > block:  # drop consumed text so memory stays bounded
                line_no += buf.count("\n", line_pos, pos)
                if buf.isascii():
                    base_byte += pos
                else:
                    base_byte = mark_byte + len(buf[mark_pos:pos].encode("utf-8"))
                buf = buf[pos:]
                line_pos = mark_pos = pos = 0
                mark_byte = base_byte
        rest = _SKIP_WS(buf, pos + 1).end()
        while rest >= len(buf):
            chunk = more()
            if not chunk:
                return
            buf += chunk
            rest = _SKIP_WS(buf, rest).end()
        raise RecordError(f"{path}:{line_no + buf.count(chr(10), line_pos, rest)}: unexpected text after the closing ']'")


def _line_of_byte(path: str, offset: int) -> int:
    line = 1
    with open(path, "rb") as f:
        done = 0
        while done < offset:
            chunk = f.read(min(_READ_BLOCK, offset - done))
            if not chunk:
                break
            line += chunk.count(b"\n")
            done += len(chunk)
    return line


def read_row_at(fd: int, start: int, length: int) -> Any:
    """Parse the row stored at ``[start, start + length)`` of an open file (see :func:`scan_rows`)."""
    return loads_row(os.pread(fd, length, start))

