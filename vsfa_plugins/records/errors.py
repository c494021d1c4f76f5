"""The one error type our loaders and builders raise for bad input, with a reason code."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .reader import Location


class RecordError(ValueError):
    """Bad input data. The message always starts with ``file:line`` (or names the row id)."""


class BadRow(RecordError):
    """A bad input row. ``str(err)`` starts with ``file:line``; ``reason`` is a short code (``malformed_json``,
    ``missing_image``, …) that ``rejected.jsonl`` and ``stats.json`` count by."""

    def __init__(self, message: str, reason: str, loc: "Location | None" = None, row_id: Any = None):
        super().__init__(message)
        self.reason = reason
        self.loc = loc
        self.row_id = row_id


def where(loc: "Location", row_id: Any = None) -> str:
    """``file:line (row N)`` plus ``(id=…)`` when the row has one: the prefix of every row error."""
    text = f"{loc.path}:{loc.line} (row {loc.row})"
    return text if row_id is None else f"{text} (id={row_id})"


_REASON_PATTERNS = [
    ("path_escape", re.compile(r"climbs out")),
    ("missing_image", re.compile(r"image not found")),
    ("image_tags", re.compile(r"'<image>' tag|tags in the questions")),
    ("wrong_roles", re.compile(r"must be from the (user|assistant)|ends with a user message")),
    ("empty_conversation", re.compile(r" is empty|must be a non-empty list|holds no user")),
    ("no_conversation", re.compile(r"no conversation")),
    ("bad_image_field", re.compile(r"'images' must be")),
    ("duplicate_id", re.compile(r"duplicate id")),
    ("malformed_json", re.compile(r"malformed JSON|truncated file")),
    ("non_utf8", re.compile(r"not valid UTF-8")),
]


def reason_of(err: Exception) -> str:
    """The reason code of an error (``BadRow.reason``, else guessed from a RecordError's message)."""
    if isinstance(err, BadRow):
        return err.reason
    text = str(err)
    for reason, pattern in _REASON_PATTERNS:
        if pattern.search(text):
            return reason
    return "invalid_row"


