"""THE data layer (plain Python; imports no training/eval tool): one streaming reader (:mod:`.scan`, viewed
by :mod:`.reader`), one conversation parser (:mod:`.conversation`, under :mod:`.schema` and :mod:`.source`),
one image checker (:mod:`.images`), and :class:`RecordError` with a reason code (:mod:`.errors`)."""

from .errors import BadRow, Location, RecordError
from .images import ImageChecker, MediaResolver
from .reader import iter_json_rows
from .schema import (
    CAPTION_TEMPLATE,
    FORMATS,
    IMAGE_TAG,
    KINDS,
    MODALITIES,
    REFUSAL_SENTENCE,
    Record,
    Turn,
    parse_record,
)
from .validate import FileReport, validate_file

__all__ = [
    "BadRow", "CAPTION_TEMPLATE", "FORMATS", "IMAGE_TAG", "KINDS", "MODALITIES", "REFUSAL_SENTENCE", "FileReport",
    "ImageChecker", "Location", "MediaResolver", "Record", "RecordError", "Turn", "iter_json_rows", "parse_record",
    "validate_file",
]
