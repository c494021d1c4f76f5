"""Append-only, crash-safe JSONL stage files: the resume mechanism of ``vsfa build-vsfa``.

Each stage appends one line per finished item (success or failure) to its file in the output folder. A
line is written with a single ``os.write`` of the whole encoded line, after everything it refers to (an
image file, say) is already in place. On start a stage loads its file:

* a torn last line (no newline, or not JSON: the process was killed mid-write) is cut off;
* a repeated id keeps its first line (a re-run never re-does a finished item, so this only guards
  against a hand-edited file);
* with ``retry_failed``, failure lines are dropped so their items run again.

When the loaded file is not exactly its clean content, it is rewritten (temp file + ``os.replace``)
before anything is appended. Hence: a kill at any moment loses at most the items in flight, never
duplicates one, and never leaves a gap — every item is either finished (one line) or run again.

The final outputs never depend on the order in which lines were appended (concurrent workers finish in any
order): they are assembled from these files sorted by each item's ``order`` key.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Iterator

from ...records import RecordError
from ...io import atomic_write_text


def dump_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


class StageFile:
    """One stage's append-only JSONL file (records keyed by ``id``)."""

    def __init__(self, path: str):
        self.path = path
        self.records: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._fd: int | None = None

    def load(self, retry_failed: bool = False) -> "StageFile":
        self.records = {}
        if not os.path.exists(self.path):
            return self
        with open(self.path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        changed = False
        for n, raw in enumerate(lines, start=1):
            last = n == len(lines)
            if last and raw == b"":
                break  # the file ended with a newline
            if not raw.strip():
                changed = True
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                    raise ValueError("not a record with a string id")
            except (ValueError, UnicodeDecodeError) as err:
                if last:  # torn write of a killed process: drop it, the item runs again
                    changed = True
                    break
                raise RecordError(f"{self.path}:{n}: corrupt stage record ({err}); delete the line or the file "
                                  f"to rebuild that stage") from None
            if last:
                changed = True  # complete JSON but no final newline: rewrite so appends start on a new line
            if record["id"] in self.records:
                changed = True
                continue
            if retry_failed and not record.get("ok", True):
                changed = True
                continue
            self.records[record["id"]] = record
        if changed:
            atomic_write_text(self.path, "".join(dump_line(r) for r in self.records.values()))
        return self

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.records

    def get(self, item_id: str) -> dict | None:
        return self.records.get(item_id)

    def append(self, record: dict) -> None:
        """Record one finished item (thread-safe; one ``write`` call per line)."""
        if record["id"] in self.records:
            raise RuntimeError(f"{self.path}: item {record['id']} is already recorded")  # a builder bug
        line = dump_line(record).encode("utf-8")
        with self._lock:
            if self._fd is None:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.records[record["id"]] = record

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def values(self) -> Iterator[dict]:
        return iter(self.records.values())

    def __len__(self) -> int:
        return len(self.records)

    def __enter__(self) -> "StageFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["StageFile", "dump_line"]
