"""Source rows of instruction data — LLaVA conversations, LLaMA-Factory sharegpt (conversations /
messages) and alpaca — normalised to (question, answer) turns for the builders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BadRow, where
from .reader import Location
from .schema import IMAGE_TAG

_USER = frozenset(("human", "user"))
_ASSISTANT = frozenset(("gpt", "assistant"))
TAG_RE = re.compile(r"\n?" + re.escape(IMAGE_TAG) + r"\n?")


@dataclass
class SourceRow:
    """A source row normalised: raw id (``None`` when absent), image paths, (question, answer) turns in
    order (questions keep their ``<image>`` tags as written), system prompt, and the input style."""

    id: Any
    images: list
    turns: list
    system: str = ""
    style: str = "llava"

    def conversations(self) -> list[dict]:
        conv = []
        for q, a in self.turns:
            conv.append({"from": "human", "value": q})
            conv.append({"from": "gpt", "value": a})
        return conv


def _bad(loc: Location, row_id: Any, reason: str, what: str) -> BadRow:
    return BadRow(f"{where(loc, row_id)}: {what}", reason, loc, row_id)


def _nonempty_text(value: Any, loc: Location, row_id: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _bad(loc, row_id, "bad_field", f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _bad(loc, row_id, "empty_conversation", f"{what} is empty")
    return value


def _pairs_from_messages(raw: Any, role_key: str, content_key: str, name: str, loc: Location, row_id: Any):
    if not isinstance(raw, list) or not raw:
        raise _bad(loc, row_id, "empty_conversation", f"'{name}' must be a non-empty list of messages")
    system = ""
    start = 0
    first = raw[0]
    if isinstance(first, dict) and first.get(role_key) == "system":
        system = first.get(content_key) or ""
        start = 1
    if len(raw) - start == 0:
        raise _bad(loc, row_id, "empty_conversation", f"'{name}' holds no user/assistant messages")
    turns = []
    for i in range(start, len(raw), 2):
        user = raw[i]
        if not isinstance(user, dict) or user.get(role_key) not in _USER:
            got = user.get(role_key) if isinstance(user, dict) else type(user).__name__
            raise _bad(loc, row_id, "wrong_roles", f"message {i} of '{name}' must be from the user (human/user), got {got!r}")
        if i + 1 >= len(raw):
            raise _bad(loc, row_id, "wrong_roles", f"'{name}' ends with a user message that has no answer")
        bot = raw[i + 1]
        if not isinstance(bot, dict) or bot.get(role_key) not in _ASSISTANT:
            got = bot.get(role_key) if isinstance(bot, dict) else type(bot).__name__
            raise _bad(loc, row_id, "wrong_roles",
                       f"message {i + 1} of '{name}' must be from the assistant (gpt/assistant), got {got!r}")
        turns.append((
            _nonempty_text(user.get(content_key), loc, row_id, f"message {i} of '{name}'"),
            _nonempty_text(bot.get(content_key), loc, row_id, f"message {i + 1} of '{name}'"),
        ))
    return turns, system


_HUMAN_GPT = ["human", "gpt"] * 256


def _simple_llava_turns(conv: Any) -> list | None:
    """The turns of the common LLaVA conversation (human/gpt strictly alternating, every value a non-empty
    string) with C-level checks only; ``None`` for anything else (then the full check runs)."""
    if type(conv) is not list or not conv or len(conv) & 1 or len(conv) > len(_HUMAN_GPT):
        return None
    try:
        if [m["from"] for m in conv] != _HUMAN_GPT[: len(conv)]:
            return None
        texts = [m["value"] for m in conv]
        if "" in texts or any(map(str.isspace, texts)):  # TypeError for a value that is not a string
            return None
    except (TypeError, KeyError):
        return None
    return list(zip(texts[0::2], texts[1::2]))


def normalize_source_row(obj: Any, loc: Location) -> SourceRow:
    """Read one row of a LLaVA / sharegpt / alpaca file; raise :class:`BadRow` (``file:line``) if bad.

    * LLaVA / LLaMA-Factory sharegpt: ``conversations`` (``from``/``value``, roles human|user, gpt|assistant,
      optional leading system) or ``messages`` (``role``/``content``); ``image`` (str or list) or ``images``.
    * alpaca: ``instruction`` (+ ``input``, joined by a newline as LLaMA-Factory does), ``output``,
      optional ``history`` ``[[q, a], ...]``, ``system``, ``images``.
    """
    if not isinstance(obj, dict):
        raise _bad(loc, None, "not_an_object", f"a row must be a JSON object, got {type(obj).__name__}")
    row_id = obj.get("id")
    if row_id is not None and (isinstance(row_id, bool) or not isinstance(row_id, (str, int))):
        raise _bad(loc, None, "bad_field", f"'id' must be a string or an integer, got {type(row_id).__name__}")
    system = obj.get("system") or ""
    turns = _simple_llava_turns(obj.get("conversations"))
    if turns is not None:
        sys_msg, style = "", "llava"
    elif "conversations" in obj:
        turns, sys_msg = _pairs_from_messages(obj["conversations"], "from", "value", "conversations", loc, row_id)
        style = "llava"
    elif "messages" in obj:
        turns, sys_msg = _pairs_from_messages(obj["messages"], "role", "content", "messages", loc, row_id)
        style = "sharegpt"
    elif "instruction" in obj:
        style = "alpaca"
        sys_msg = ""
        turns = []
        history = obj.get("history") or []
        if not isinstance(history, list):
            raise _bad(loc, row_id, "bad_field", "'history' must be a list of [question, answer] pairs")
        for i, pair in enumerate(history):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise _bad(loc, row_id, "bad_field", f"history item {i} must be a [question, answer] pair")
            turns.append((_nonempty_text(pair[0], loc, row_id, f"history {i} question"),
                          _nonempty_text(pair[1], loc, row_id, f"history {i} answer")))
        instruction = obj.get("instruction")
        extra = obj.get("input") or ""
        if not isinstance(instruction, str) or not isinstance(extra, str):
            raise _bad(loc, row_id, "bad_field", "'instruction' and 'input' must be strings")
        query = instruction + ("\n" + extra if extra else "") if instruction else extra
        turns.append((_nonempty_text(query, loc, row_id, "instruction"),
                      _nonempty_text(obj.get("output"), loc, row_id, "'output'")))
    else:
        raise _bad(loc, row_id, "no_conversation", "no conversation: give 'conversations', 'messages' or 'instruction'")
    if not isinstance(system, str) or not isinstance(sys_msg, str):
        raise _bad(loc, row_id, "bad_field", "'system' must be a string")
    raw_images = obj.get("images")
    if raw_images is None:
        raw_images = obj.get("image")
    if raw_images is None:
        images = []
    elif isinstance(raw_images, str):
        images = [raw_images]
    elif isinstance(raw_images, list) and all(isinstance(p, str) for p in raw_images):
        images = list(raw_images)
    else:
        raise _bad(loc, row_id, "bad_image_field", "'image' / 'images' must be a path or a list of paths")
    if any(not p.strip() for p in images):
        raise _bad(loc, row_id, "bad_image_field", "an image path is empty")
    return SourceRow(row_id, images, turns, sys_msg or system, style)


def strip_image_tags(text: str) -> str:
    return TAG_RE.sub(lambda m: "\n" if m.group(0).startswith("\n") and m.group(0).endswith("\n") else "", text).strip()


def with_leading_tags(question: str, n_images: int) -> str:
    """The question with every ``<image>`` tag removed and one tag per image put in front (LLaVA style:
    ``<image>\\nquestion``); no tag for a row without images."""
    text = strip_image_tags(question)
    return (IMAGE_TAG * n_images + "\n" + text) if n_images else text


