"""The one error type for bad input data, with a reason code set where it is raised; and where a row is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Location:
    """Where a row came from: the file, the 1-based line the row starts on and its 0-based row index."""

    path: str
    line: int
    row: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} (row {self.row})"


class RecordError(ValueError):
    """Bad input data. The message starts with ``file:line`` (or names the row id); ``reason`` is a short
    code that ``rejected.jsonl`` and ``stats.json`` count by, set by the code that found the problem:

    ``malformed_json``, ``non_utf8``, ``too_deep``, ``number_too_long``, ``not_an_object``, ``bad_field``,
    ``no_conversation``, ``empty_conversation``, ``wrong_roles``, ``image_tags``, ``bad_image_field``,
    ``missing_image``, ``corrupt_image``, ``image_too_large``, ``path_escape``, ``duplicate_id``,
    ``missing_id``, … and ``invalid_row`` when the raiser gave none.
    """

    def __init__(self, message: str, reason: str = "invalid_row", loc: Location | None = None, row_id: Any = None):
        super().__init__(message)
        self.reason = reason
        self.loc = loc
        self.row_id = row_id


class BadRow(RecordError):
    """A problem confined to one row: the rest of the file can still be read, so ``--skip-bad`` may record
    it in ``rejected.jsonl`` and go on. A plain :class:`RecordError` (a file that cannot be read on) stops."""


def where(loc: Location, row_id: Any = None) -> str:
    """``file:line (row N)`` plus ``(id=…)`` when the row has one: the prefix of every row error."""
    text = f"{loc.path}:{loc.line} (row {loc.row})"
    return text if row_id is None else f"{text} (id={row_id})"
