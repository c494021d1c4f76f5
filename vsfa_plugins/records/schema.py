"""Row schemas of the ``vsfa`` and ``rejection_mix`` dataset formats, and their validation.

Plain Python (no LLaMA-Factory import): builders, the LLaMA-Factory converters and tests share it.

A row holds one or more images and one or more question/answer turns, spelled as ``turns``, LLaVA
``conversations``, OpenAI-style ``messages`` or alpaca ``instruction``/``output``; images as ``images``
or ``image`` — read by the one conversation parser, :mod:`.conversation`.

``vsfa`` rows may carry ``threat_category`` and ``modality`` (``image`` | ``text`` | ``mixed``, default
``image``) for the VSFA paper's modality ablation; ``text`` and ``mixed`` need a ``caption``.
``rejection_mix`` rows carry ``kind`` (``rejection`` | ``instruct``); rejection rows are single-turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .conversation import parse_conversation
from .errors import BadRow

# The fixed refusal of "Do We Really Need Curated Malicious Data for Safety Alignment in Multi-modal
# Large Language Models?" (Wang et al., CVPR 2025), Sec. 3: every rejection row's reply is this sentence.
REFUSAL_SENTENCE = "I'm sorry, but I cannot assist with your request"

FORMATS = ("vsfa", "rejection_mix")
MODALITIES = ("image", "text", "mixed")
KINDS = ("rejection", "instruct")
#: LLaMA-Factory's IMAGE_PLACEHOLDER and LLaVA's DEFAULT_IMAGE_TOKEN
IMAGE_TAG = "<image>"

# How a caption stands in for the image in the ``text`` modality (and accompanies it in ``mixed``).
# The VSFA paper replaces the image by its description; the wording below is ours and fixed so that
# runs are comparable. It carries no safety vocabulary.
CAPTION_TEMPLATE = "Image description: {caption}\n\n{question}"

_TAG_RE = re.compile(re.escape(IMAGE_TAG) + r"\n?")


@dataclass
class Turn:
    question: str
    answer: str


@dataclass
class Record:
    """One validated row, normalised."""

    id: str | None
    images: list[str]
    turns: list[Turn]
    system: str = ""
    modality: str = "image"
    caption: str | None = None
    threat_category: str | None = None
    kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_images(self) -> bool:
        return self.modality in ("image", "mixed") and bool(self.images)

    def chat(self) -> list[dict[str, str]]:
        """User/assistant messages as the model sees them (image tags placed, caption inserted)."""
        messages = []
        n_tags = sum(t.question.count(IMAGE_TAG) for t in self.turns)
        for i, turn in enumerate(self.turns):
            question = turn.question
            if not self.uses_images:
                question = _TAG_RE.sub("", question).strip()
            if i == 0 and self.modality in ("text", "mixed"):
                question = CAPTION_TEMPLATE.format(caption=self.caption, question=question)
            if i == 0 and self.uses_images and n_tags == 0:
                question = IMAGE_TAG * len(self.images) + "\n" + question
            messages.append({"role": "user", "content": question})
            messages.append({"role": "assistant", "content": turn.answer})
        return messages


def parse_record(obj: Any, fmt: str, where: str) -> Record:
    """Validate one row of format ``fmt`` and return it normalised. ``where`` prefixes every error, a
    :class:`BadRow` with its ``reason``. The conversation is read by the one parser the builders use too
    (:func:`.conversation.parse_conversation`); this adds the ``vsfa`` / ``rejection_mix`` rules."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    conv = parse_conversation(obj, where)
    rid = None if conv.id is None else str(conv.id)
    if rid is not None:
        where = f"{where} (id={rid})"

    def bad(reason: str, what: str) -> BadRow:
        return BadRow(f"{where}: {what}", reason, None, rid)

    turns = [Turn(q, a) for q, a in conv.turns]
    images = conv.images
    n_tags = sum(t.question.count(IMAGE_TAG) for t in turns)
    record = Record(id=rid, images=images, turns=turns, system=conv.system)

    if fmt == "vsfa":
        modality = obj.get("modality")
        record.modality = "image" if modality is None else modality
        if record.modality not in MODALITIES:
            raise bad("bad_field", f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        caption = obj.get("caption")
        if record.modality in ("text", "mixed"):
            what = f"'caption' (needed by modality {record.modality!r})"
            if not isinstance(caption, str) or not caption.strip():
                raise bad("bad_field", f"{what} is empty" if isinstance(caption, str) or caption is None
                          else f"{what} must be a string, got {type(caption).__name__}")
            record.caption = caption.strip()
        elif caption is not None:
            record.caption = caption
        if record.modality in ("image", "mixed") and not images:
            raise bad("bad_image_field", f"modality {record.modality!r} needs at least one image")
        category = obj.get("threat_category")
        if category is not None and not isinstance(category, str):
            raise bad("bad_field", "'threat_category' must be a string")
        record.threat_category = category
    else:
        kind = obj.get("kind")
        if kind not in KINDS:
            raise bad("bad_field", f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
        record.kind = kind
        if kind == "rejection" and len(turns) != 1:
            raise bad("wrong_roles", f"a rejection row has exactly one question and the refusal, got {len(turns)} turns")

    if record.uses_images and n_tags not in (0, len(images)):
        raise bad("image_tags", f"{n_tags} '{IMAGE_TAG}' tags in the questions but {len(images)} images")
    if not record.uses_images and images == [] and n_tags:
        raise bad("image_tags", f"'{IMAGE_TAG}' tag in a question but the row has no image")
    return record
