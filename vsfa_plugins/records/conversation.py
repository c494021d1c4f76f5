"""THE conversation parser: one row of instruction data → (question, answer) turns, system prompt, images.

Both the builders (:func:`.source.normalize_source_row`, reading LLaVA / sharegpt / alpaca sources) and our
dataset formats (:func:`.schema.parse_record`, which adds the ``vsfa`` / ``rejection_mix`` rules) call
:func:`parse_conversation`, so they accept and refuse the same rows with the same messages.

Spellings, first match wins (a field that is ``None`` counts as absent: LLaMA-Factory loads JSON through
pyarrow, which fills fields missing in a row with ``None``):

* ``"turns": [{"question": ..., "answer": ...}, ...]``                      (our native form)
* ``"conversations": [{"from": "human"|"gpt", "value": ...}, ...]``         (LLaVA / sharegpt)
* ``"messages": [{"role": "user"|"assistant", "content": ...}, ...]``       (OpenAI / LLaMA-Factory sharegpt)
* ``"instruction"`` (+ ``"input"``, joined by a newline as LLaMA-Factory does), ``"output"``, optional
  ``"history": [[q, a], ...]``                                              (alpaca)

Messages may open with one ``system`` message; a top-level ``"system"`` is used when there is none.
Images come from ``"images"`` (list) or ``"image"`` (string or list, LLaVA's spelling).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadRow, Location

# tuples, not sets: a role read from JSON may be an unhashable list or object
_USER = ("human", "user")
_ASSISTANT = ("gpt", "assistant")
_SYSTEM = ("system",)


@dataclass
class SourceRow:
    """A row normalised: raw id (``None`` when absent), image paths, (question, answer) turns in order
    (questions keep their ``<image>`` tags as written), system prompt, and the input style."""

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


class _Row:
    """The error factory of one row: every message starts with the row's prefix (and id)."""

    __slots__ = ("prefix", "loc", "row_id")

    def __init__(self, prefix: str, loc: Location | None, row_id: Any):
        self.prefix, self.loc, self.row_id = prefix, loc, row_id

    def bad(self, reason: str, what: str) -> BadRow:
        return BadRow(f"{self.prefix}: {what}", reason, self.loc, self.row_id)

    def text(self, value: Any, what: str) -> str:
        if not isinstance(value, str):
            raise self.bad("bad_field", f"{what} must be a string, got {type(value).__name__}")
        if not value.strip():
            raise self.bad("empty_conversation", f"{what} is empty")
        return value


_HUMAN_GPT = ["human", "gpt"] * 256


def _simple_llava_turns(conv: Any) -> list | None:
    """The turns of the common LLaVA conversation (human/gpt strictly alternating, every value a non-empty
    string) with C-level checks only; ``None`` for anything else (then the full walk below decides)."""
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


def _turns_from_pairs(raw: Any, r: _Row) -> list:
    if not isinstance(raw, list) or not raw:
        raise r.bad("empty_conversation", "'turns' must be a non-empty list of {question, answer}")
    turns = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise r.bad("bad_field", f"turn {i} must be an object with 'question' and 'answer'")
        turns.append((r.text(item.get("question"), f"turn {i} question"), r.text(item.get("answer"), f"turn {i} answer")))
    return turns


def _turns_from_messages(raw: Any, role_key: str, content_key: str, name: str, r: _Row) -> tuple[list, str]:
    if not isinstance(raw, list) or not raw:
        raise r.bad("empty_conversation", f"'{name}' must be a non-empty list of messages")
    system = ""
    start = 0
    first = raw[0]
    if isinstance(first, Mapping) and first.get(role_key) in _SYSTEM:
        system = first.get(content_key)
        if system is None:
            system = ""
        elif not isinstance(system, str):
            raise r.bad("bad_field", f"the system message of '{name}' must be a string, got {type(system).__name__}")
        start = 1
    if start == len(raw):
        raise r.bad("empty_conversation", f"'{name}' holds no user/assistant messages")
    turns = []
    for i in range(start, len(raw), 2):
        user = raw[i]
        if not isinstance(user, Mapping) or user.get(role_key) not in _USER:
            got = user.get(role_key) if isinstance(user, Mapping) else type(user).__name__
            raise r.bad("wrong_roles", f"message {i} of '{name}' must be from the user (human/user), got {got!r}")
        if i + 1 >= len(raw):
            raise r.bad("wrong_roles", f"'{name}' ends with a user message that has no answer")
        bot = raw[i + 1]
        if not isinstance(bot, Mapping) or bot.get(role_key) not in _ASSISTANT:
            got = bot.get(role_key) if isinstance(bot, Mapping) else type(bot).__name__
            raise r.bad("wrong_roles", f"message {i + 1} of '{name}' must be from the assistant (gpt/assistant), "
                                       f"got {got!r}")
        turns.append((r.text(user.get(content_key), f"message {i} of '{name}'"),
                      r.text(bot.get(content_key), f"answer (message {i + 1}) of '{name}'")))
    return turns, system


def _turns_from_alpaca(obj: Mapping, r: _Row) -> list:
    history = obj.get("history")
    if history is None:
        history = []
    if not isinstance(history, list):
        raise r.bad("bad_field", "'history' must be a list of [question, answer] pairs")
    turns = []
    for i, pair in enumerate(history):
        if not isinstance(pair, list) or len(pair) != 2:
            raise r.bad("bad_field", f"history item {i} must be a [question, answer] pair")
        turns.append((r.text(pair[0], f"history {i} question"), r.text(pair[1], f"history {i} answer")))
    instruction, extra = obj.get("instruction"), obj.get("input")
    if extra is None:
        extra = ""
    if not isinstance(instruction, str) or not isinstance(extra, str):
        raise r.bad("bad_field", "'instruction' and 'input' must be strings")
    query = instruction + ("\n" + extra if extra else "") if instruction else extra
    turns.append((r.text(query, "instruction"), r.text(obj.get("output"), "'output'")))
    return turns


def parse_images(obj: Mapping, r: _Row) -> list[str]:
    raw = obj.get("images")
    if raw is None:
        raw = obj.get("image")
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    elif not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise r.bad("bad_image_field", "'image' / 'images' must be a path or a list of paths")
    if any(not p.strip() for p in raw):
        raise r.bad("bad_image_field", "an image path is empty")
    return list(raw)


def parse_conversation(obj: Any, prefix: str, loc: Location | None = None) -> SourceRow:
    """Parse one row; raise :class:`BadRow` (message ``"<prefix> (id=…): …"``, with a ``reason``) if bad."""
    if type(obj) is dict and obj.get("turns") is None and obj.get("system") is None:
        # the common LLaVA row (one image path or none) at C speed; anything else takes the full walk
        row_id, image = obj.get("id"), obj.get("images")
        if image is None:
            image = obj.get("image")
        if (type(row_id) is str or type(row_id) is int or row_id is None) and (
                image is None or (type(image) is str and image.strip())):
            turns = _simple_llava_turns(obj.get("conversations"))
            if turns is not None:
                return SourceRow(row_id, [] if image is None else [image], turns, "", "llava")
    if not isinstance(obj, Mapping):  # datasets hands converters a lazy Mapping, not a dict
        raise BadRow(f"{prefix}: a row must be a JSON object, got {type(obj).__name__}", "not_an_object", loc)
    row_id = obj.get("id")
    if row_id is not None and (isinstance(row_id, bool) or not isinstance(row_id, (str, int))):
        raise BadRow(f"{prefix}: 'id' must be a string or an integer, got {type(row_id).__name__}", "bad_field", loc)
    r = _Row(prefix if row_id is None else f"{prefix} (id={row_id})", loc, row_id)
    system = obj.get("system")
    if system is None:
        system = ""
    elif not isinstance(system, str):
        raise r.bad("bad_field", f"'system' must be a string, got {type(system).__name__}")
    sys_msg = ""
    if obj.get("turns") is not None:
        turns, style = _turns_from_pairs(obj["turns"], r), "turns"
    elif obj.get("conversations") is not None:
        turns, sys_msg = _turns_from_messages(obj["conversations"], "from", "value", "conversations", r)
        style = "llava"
    elif obj.get("messages") is not None:
        turns, sys_msg = _turns_from_messages(obj["messages"], "role", "content", "messages", r)
        style = "sharegpt"
    elif obj.get("instruction") is not None:
        turns, style = _turns_from_alpaca(obj, r), "alpaca"
    else:
        raise r.bad("no_conversation", "no conversation: give 'turns', 'conversations', 'messages' or 'instruction'")
    return SourceRow(row_id, parse_images(obj, r), turns, sys_msg or system, style)


__all__ = ["SourceRow", "parse_conversation"]
