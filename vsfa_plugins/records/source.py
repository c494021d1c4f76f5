"""Source rows of instruction data — LLaVA conversations, LLaMA-Factory sharegpt (conversations /
messages) and alpaca — for the builders, and their ``<image>`` tag placement."""

from __future__ import annotations

import re
from typing import Any

from .conversation import SourceRow, parse_conversation
from .errors import Location, where
from .schema import IMAGE_TAG

TAG_RE = re.compile(r"\n?" + re.escape(IMAGE_TAG) + r"\n?")


def normalize_source_row(obj: Any, loc: Location) -> SourceRow:
    """Read one row of a LLaVA / sharegpt / alpaca (or our ``turns``) file with the one conversation parser
    (:func:`.conversation.parse_conversation`); raise :class:`BadRow` (``file:line``, a reason) if bad."""
    return parse_conversation(obj, where(loc), loc)


def strip_image_tags(text: str) -> str:
    return TAG_RE.sub(lambda m: "\n" if m.group(0).startswith("\n") and m.group(0).endswith("\n") else "", text).strip()


def with_leading_tags(question: str, n_images: int) -> str:
    """The question with every ``<image>`` tag removed and one tag per image put in front (LLaVA style:
    ``<image>\\nquestion``); no tag for a row without images."""
    text = strip_image_tags(question)
    return (IMAGE_TAG * n_images + "\n" + text) if n_images else text


