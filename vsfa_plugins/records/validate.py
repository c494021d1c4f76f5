"""Whole-file validation of ``vsfa`` / ``rejection_mix`` datasets, with counts of what is in them."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from .errors import RecordError
from .images import ImageChecker
from .reader import iter_json_rows
from .schema import parse_record

#: at most this many problems are listed in one error message (the total is always given)
MAX_LISTED_ERRORS = 20


@dataclass
class FileReport:
    path: str
    fmt: str
    rows: int = 0
    images: int = 0
    by_modality: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    by_category: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"{self.rows} rows valid", f"{self.images} images"]
        if self.fmt == "vsfa":
            parts.append("modality " + ", ".join(f"{k}={v}" for k, v in sorted(self.by_modality.items())))
        else:
            parts.append("kind " + ", ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items()) if not k.startswith("_")))
        return f"{self.path}: " + "; ".join(parts)

    @property
    def mixes_image_and_text_rows(self) -> bool:
        """True when some rows feed images and others do not (the ZeRO-3 hang trap upstream)."""
        with_images = self.by_modality["image"] + self.by_modality["mixed"] + self.by_kind["_with_images"]
        without = self.by_modality["text"] + self.by_kind["_without_images"]
        return with_images > 0 and without > 0


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def validate_file(
    path: str,
    fmt: str,
    media_roots: Iterable[str] | None = None,
    allow_escape: bool = False,
    check_images: bool | str = True,
) -> FileReport:
    """Read every row of ``path``; raise one :class:`RecordError` listing each bad row (``file:line``); its
    ``reason`` is the first bad row's.

    Images are checked by the builders' :class:`~.images.ImageChecker`: ``check_images`` is a mode of it
    (``True`` = ``header``, the default; ``False`` = ``none``). Besides the per-row schema it checks what
    LLaMA-Factory's pyarrow-based loader would otherwise report without a location: duplicate ids and a
    top-level field whose JSON type changes between rows. A file that cannot be read on (malformed JSON,
    not UTF-8) raises at the first such problem.
    """
    path = os.path.abspath(path)
    roots = list(media_roots) if media_roots is not None else [os.path.dirname(path)]
    mode = {True: "header", False: "none"}.get(check_images, check_images)
    checker = ImageChecker(roots, check=mode, allow_escape=allow_escape)
    report = FileReport(path=path, fmt=fmt)
    errors: list[str] = []
    first_reason = ""
    n_errors = 0
    seen_ids: dict[str, str] = {}
    field_types: dict[str, tuple[str, str]] = {}

    def fail(message: str, reason: str) -> None:
        nonlocal n_errors, first_reason
        n_errors += 1
        first_reason = first_reason or reason
        if len(errors) < MAX_LISTED_ERRORS:
            errors.append(message)

    for loc, obj in iter_json_rows(path):
        where = f"{loc.path}:{loc.line} (row {loc.row})"
        try:
            record = parse_record(obj, fmt, where)
            # rejection_mix rows always feed their images; vsfa rows only in the image/mixed modalities
            fed_images = record.images if record.uses_images or fmt == "rejection_mix" else []
            for image in fed_images:
                checker.resolve(image, where if record.id is None else f"{where} (id={record.id})", record.id, loc)
        except RecordError as err:
            fail(str(err), err.reason)
            continue
        for key, value in obj.items():
            kind = _json_type(value)
            if kind == "null":
                continue
            first = field_types.setdefault(key, (kind, where))
            if first[0] != kind:
                fail(f"{where}: field {key!r} is a {kind} here but a {first[0]} at {first[1]}; one type per field",
                     "bad_field")
        if record.id is not None:
            if record.id in seen_ids:
                fail(f"{where}: duplicate id {record.id!r} (first at {seen_ids[record.id]})", "duplicate_id")
            else:
                seen_ids[record.id] = where
        report.rows += 1
        report.images += len(fed_images)
        if fmt == "vsfa":
            report.by_modality[record.modality] += 1
            if record.threat_category:
                report.by_category[record.threat_category] += 1
        else:
            report.by_kind[record.kind] += 1
            report.by_kind["_with_images" if record.images else "_without_images"] += 1

    if n_errors:
        listed = "\n  ".join(errors)
        more = f"\n  … and {n_errors - len(errors)} more" if n_errors > len(errors) else ""
        raise RecordError(
            f"{path}: {n_errors} bad row(s) of format {fmt!r}; nothing was dropped, fix them or remove them:\n  "
            f"{listed}{more}", first_reason)
    if report.rows == 0:
        raise RecordError(f"{path}: no rows", "no_rows")
    return report
