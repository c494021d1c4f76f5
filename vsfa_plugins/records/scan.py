"""THE reader: rows of a ``.json`` array or ``.jsonl`` file, streamed, with their ``file:line`` and byte range.

Every other way of reading rows is a view of :func:`scan_rows` (``reader.iter_json_rows``). JSON arrays are
parsed incrementally over a sliding text window, so memory stays bounded however big the file, and a bad
row is reported as soon as it is met (a block or two into the file, not after reading all of it). Rows can
be read back by offset with :func:`read_row_at` (the builders keep only byte ranges between their passes).

Hostile input ends in :class:`RecordError` naming ``file:line`` with a reason code, never another
exception: malformed JSON (``malformed_json``), bytes that are not UTF-8 (``non_utf8``), nesting deeper
than Python's parser can follow (``too_deep``, instead of ``RecursionError``) and integers longer than
``sys.get_int_max_str_digits()`` (``number_too_long``, instead of ``ValueError``).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import sys
from typing import Any, Callable, Iterator

from ..io import READ_BLOCK as _READ_BLOCK, loads_row
from .errors import BadRow, Location, RecordError

_DECODER = json.JSONDecoder()
#: nesting depth named in errors: the place a too-deep value passes it is what the error points at
_DEEP_REPORT = 500


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

    A JSONL line that is bad (not JSON, not UTF-8, too deep, a too long number) is yielded with ``error``
    set (the caller decides: raise, or reject it under ``--skip-bad``). In a JSON array the end of a bad row
    cannot be known, so there it ends the file: :class:`RecordError`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RecordError(f"{path}: file not found", "file_not_found")
    if path.endswith(".jsonl"):
        yield from _scan_jsonl(path, block, on_bytes)
    else:
        yield from _scan_json_array(path, block, on_bytes)


# --------------------------------------------------------------------------------------------------
# what went wrong in a failed parse, and where
# --------------------------------------------------------------------------------------------------

_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _deep_position(text: str, start: int) -> int:
    """Where the value starting at ``start`` passes :data:`_DEEP_REPORT` levels (error path only)."""
    depth = 0
    for m in _STRING_OR_BRACKET.finditer(text, start):
        ch = m.group(0)
        if ch in "[{":
            depth += 1
            if depth > _DEEP_REPORT:
                return m.start()
        elif ch in "]}":
            depth -= 1
    return start


def _long_number_position(text: str, start: int, digits: int) -> int:
    """Where the first integer of more than ``digits`` digits outside a string is (error path only)."""
    pattern = re.compile(r'"(?:[^"\\]|\\.)*"|-?[0-9]{%d,}' % (digits + 1), re.S)
    for m in pattern.finditer(text, start):
        if not m.group(0).startswith('"'):
            return m.start()
    return start


def json_failure(exc: BaseException, text: str, start: int) -> tuple[str, str, int]:
    """``(reason, what, position in text)`` for an exception raised parsing the value at ``text[start:]``."""
    if isinstance(exc, RecursionError):
        return "too_deep", "JSON nested too deeply (more levels than Python's JSON parser can follow)", \
            _deep_position(text, start)
    if isinstance(exc, StopIteration):  # the C scanner: no value at all at ``exc.value``
        return "malformed_json", "malformed JSON (Expecting value)", exc.value
    if isinstance(exc, json.JSONDecodeError):
        return "malformed_json", f"malformed JSON ({exc.msg})", exc.pos
    # the only other ValueError of the JSON scanner: int() of more digits than the interpreter converts
    digits = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
    return "number_too_long", f"a number with more than {digits} digits (Python refuses to convert it)", \
        _long_number_position(text, start, digits)


def _may_be_cut(exc: BaseException, text: str, err_pos: int) -> bool:
    """Could more text make this parse succeed? Only when the failure is at the end of the window, or a
    string is still open (its start is where the error points). Anything else is a real error: reporting
    it at once keeps a bad row early in a big file from reading the whole file first."""
    if isinstance(exc, (RecursionError,)) or not isinstance(exc, (json.JSONDecodeError, StopIteration)):
        return False
    return len(text) - err_pos <= 16 or (isinstance(exc, json.JSONDecodeError) and exc.msg.startswith("Unterminated"))


def _jsonl_row_error(path: str, line_no: int, row: int, text: str, exc: BaseException) -> BadRow:
    reason, what, _ = json_failure(exc, text, 0)
    if reason == "malformed_json":
        what = f"malformed JSON line ({exc.msg}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) \
            else "malformed JSON line"
    loc = Location(path, line_no, row)
    return BadRow(f"{path}:{line_no}: {what}", reason, loc)


# --------------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------------


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
            except (ValueError, RecursionError) as exc:
                yield ScannedRow(path, line_no, row, start, len(raw), error=_jsonl_row_error(path, line_no, row, text, exc))
                row += 1
                continue
            yield ScannedRow(path, line_no, row, start, len(raw), obj)
            row += 1


def _tee(f, on_bytes):
    for line in f:
        on_bytes(line)
        yield line


# --------------------------------------------------------------------------------------------------
# JSON arrays
# --------------------------------------------------------------------------------------------------

_SKIP_WS = re.compile(r"[ \t\r\n]*").match


class _NotUtf8(Exception):
    """Raised by the block reader: ``newlines`` line breaks precede the bad byte within the new block."""

    def __init__(self, newlines: int, offset: int, why: str):
        self.newlines, self.offset, self.why = newlines, offset, why


def _scan_json_array(path: str, block: int, on_bytes) -> Iterator[ScannedRow]:
    """Incremental ``scan_once`` over a sliding text window, tracking lines and byte offsets.

    Byte offsets: while the window is pure ASCII (``str.isascii`` is O(1)) characters map to bytes 1:1;
    otherwise the text between two marks is re-encoded once, so the cost stays linear in the file size.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    scan_once = _DECODER.scan_once  # the C scanner behind raw_decode, without its Python wrapper
    f = open(path, "rb", buffering=0)
    state = {"eof": False, "read": 0}

    def more(size: int = block) -> str:
        """The next ``size`` bytes as text ('' at the end of the file)."""
        if state["eof"]:
            return ""
        data = f.read(size)
        if on_bytes is not None and data:
            on_bytes(data)
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as err:
            bad = max(0, err.start - pending)
            raise _NotUtf8(data.count(b"\n", 0, bad), state["read"] + bad, err.reason) from None
        state["read"] += len(data)
        if not data:
            state["eof"] = True
        return text

    buf = ""
    line_pos, line_no = 0, 1  # buf index whose line is known
    with f:
        try:
            buf = more()
            base_byte = 0  # byte offset of buf[0]
            mark_pos, mark_byte = 0, 0  # buf index whose byte offset is known (non-ASCII windows)

            pos = _SKIP_WS(buf, 0).end()
            while pos >= len(buf):
                chunk = more()
                if not chunk:
                    raise RecordError(f"{path}:1: empty file (expected a JSON array of rows)", "malformed_json")
                buf += chunk
                pos = _SKIP_WS(buf, pos).end()
            if buf[pos] != "[":
                raise RecordError(f"{path}:{1 + buf.count(chr(10), 0, pos)}: expected a JSON array of rows, found "
                                  f"{buf[pos]!r}", "malformed_json")
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
                    raise RecordError(f"{path}:{line_no + buf.count(chr(10), line_pos, pos)}: truncated file (array "
                                      f"never closed)", "malformed_json")
                ch = buf[pos]
                if not expect_value:
                    if ch == "]":
                        break
                    if ch != ",":
                        raise RecordError(f"{path}:{line_no + buf.count(chr(10), line_pos, pos)}: expected ',' or ']' "
                                          f"between rows", "malformed_json")
                    pos += 1
                    expect_value = True
                    continue
                if ch == "]" and row == 0:
                    break
                try:
                    obj, end = scan_once(buf, pos)
                except (StopIteration, ValueError, RecursionError) as exc:
                    reason, what, err_pos = json_failure(exc, buf, pos)
                    if _may_be_cut(exc, buf, err_pos):
                        chunk = more(max(block, len(buf) - pos))  # a long row: grow the window geometrically
                        if chunk:
                            buf += chunk
                            continue
                        if not buf[err_pos:].strip():
                            what = what.replace("malformed JSON", "truncated file", 1)
                    at = line_no + buf.count("\n", line_pos, max(err_pos, pos))
                    raise RecordError(f"{path}:{at}: {what}", reason) from None
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
            raise RecordError(f"{path}:{line_no + buf.count(chr(10), line_pos, rest)}: unexpected text after the "
                              f"closing ']'", "malformed_json")
        except _NotUtf8 as bad:
            line = line_no + buf.count("\n", line_pos) + bad.newlines
            raise RecordError(f"{path}:{line}: not valid UTF-8 ({bad.why} at byte {bad.offset})", "non_utf8") from None


def read_row_at(fd: int, start: int, length: int) -> Any:
    """Parse the row stored at ``[start, start + length)`` of an open file (see :func:`scan_rows`)."""
    return loads_row(os.pread(fd, length, start))
