"""Stage 1 of ``vsfa build-vsfa``: where the pictures come from.

Three sources (``--source``):

* ``corpus``     — a text file, one document per line (e.g. AI-safety paper abstracts). An LLM (the chat
  endpoint of ``VSFA_SCENES_*``, falling back to ``VSFA_TEACHER_*``) turns each line into
  ``--scenes-per-text`` concrete, depictable threat-related scenes, each with a category, a one-sentence
  description and a text-to-image prompt (:data:`SCENE_PROMPT`). Stage 2 draws them.
* ``images``     — the user's own pictures: every image file under ``--images-dir`` (sorted), with optional
  captions / categories from ``--captions`` (CSV with a header, or JSONL; columns ``image`` — path
  relative to the images folder —, ``caption``, optional ``threat_category``).
* ``procedural`` — seeded drawn scenes (:mod:`.procedural`; demos and tests only).

Records (``scenes.jsonl``, one line per source unit — corpus line, image or procedural scene)::

    {"id": "t000012", "order": [12], "ok": true, "source": "corpus", "line": 12, "scenes": [{...}, ...]}
    {"id": "img-000003", "order": [3], "ok": true, "source": "images", "path": "/abs/fire/03.jpg",
     "caption": "...", "threat_category": "fire"}
    {"id": "p000007", "order": [7], "ok": true, "source": "procedural", "spec": {...}}

:func:`expand` turns them into the pipeline's :class:`Item` list (one per picture), in order.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ...records import RecordError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")

#: default threat categories offered to the scene writer (and used by the procedural source)
DEFAULT_CATEGORIES = ("fire", "weapon", "drugs", "accident", "traffic", "chemical")

SCENE_PROMPT = """\
You help build an image dataset. Read the text below and write {k} scenes that a photograph could show, \
each about a physical threat or hazard that the text mentions or implies (for example a fire, a weapon, \
medication or pills, an accident, a traffic crash, chemicals).

Each scene must be concrete and depictable: name the objects, their colours, how many there are, where \
they are, and the setting. No readable text longer than two words, no faces in close-up, no injured people.

For each scene give:
- "category": one of {categories}
- "description": one sentence describing the scene
- "prompt": a prompt for a text-to-image model (at most 60 words)

Reply with JSON only, in this form:
{{"scenes": [{{"category": "...", "description": "...", "prompt": "..."}}]}}

Text:
{text}"""


@dataclass
class Item:
    """One picture flowing through stages 2–5."""

    id: str
    order: list
    source: str
    category: str | None = None
    prompt: str | None = None  # text-to-image prompt (corpus / procedural)
    source_image: str | None = None  # the user's file (images source)
    caption: str | None = None  # the user's caption (images source)
    spec: dict | None = None  # procedural scene
    origin: dict = field(default_factory=dict)  # where it came from: {"path", "line"} for rejected.jsonl


# ------------------------------------------------------------------------------------------------------
# parsing model output
# ------------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def extract_json(text: str) -> Any:
    """The JSON value in a model reply: the whole text, else the text inside a ``` fence, else the span
    from the first ``{`` to the last ``}``. Raises ``ValueError`` with a short reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty reply")
    candidates = [text.strip(), _FENCE.sub("", text.strip())]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("no JSON object in the reply")


def parse_scenes(text: str, categories: tuple[str, ...], k: int) -> list[dict]:
    data = extract_json(text)
    scenes = data.get("scenes") if isinstance(data, dict) else data
    if not isinstance(scenes, list) or not scenes:
        raise ValueError("no 'scenes' list")
    out = []
    for s in scenes[:k]:
        if not isinstance(s, dict):
            raise ValueError("a scene is not an object")
        prompt = s.get("prompt") or s.get("description")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("a scene has no prompt")
        category = s.get("category")
        category = category.strip().lower() if isinstance(category, str) else ""
        description = s.get("description")
        description = description.strip() if isinstance(description, str) and description.strip() else prompt.strip()
        out.append({"category": category if category in categories else "other", "description": description,
                    "prompt": prompt.strip()})
    return out


# ------------------------------------------------------------------------------------------------------
# sources
# ------------------------------------------------------------------------------------------------------


def read_corpus(path: str) -> list[tuple[int, str]]:
    """Non-empty lines of a UTF-8 text file as ``(line number, text)``."""
    if not os.path.isfile(path):
        raise RecordError(f"{path}: corpus file not found")
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                raise RecordError(f"{path}:{n}: not valid UTF-8 ({err.reason} at byte {err.start} of the line)") from None
            if text:
                out.append((n, text))
    if not out:
        raise RecordError(f"{path}: the corpus has no non-empty line")
    return out


def list_images(folder: str) -> list[str]:
    """Image files under ``folder`` (recursively), as sorted relative paths."""
    if not os.path.isdir(folder):
        raise RecordError(f"{folder}: images folder not found")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(root, name), folder))
    if not found:
        raise RecordError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return sorted(found)


def read_source_image(path: str):
    """One of the user's pictures (``--images-dir``), decoded through the records layer's image check (the
    pixel count read from the header first, so a decompression bomb is refused before any decoding):
    :class:`RecordError` with reason ``corrupt_image`` / ``image_too_large`` / ``missing_image``."""
    from ...records.images import load_image

    return load_image(path, "--images-dir")


def read_captions(path: str, images_dir: str) -> dict[str, dict]:
    """``{relative image path: {"caption", "threat_category", "where"}}`` from a CSV (header) or JSONL file.

    The ``image`` column is a path relative to the images folder (or an absolute path inside it)."""
    if not os.path.isfile(path):
        raise RecordError(f"{path}: captions file not found")
    rows: list[tuple[str, dict]] = []
    if path.endswith((".jsonl", ".json")):
        from ...records import iter_json_rows

        for loc, obj in iter_json_rows(path):
            if not isinstance(obj, dict):
                raise RecordError(f"{loc.path}:{loc.line}: a captions row must be a JSON object")
            rows.append((f"{loc.path}:{loc.line}", obj))
    else:
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "image" not in reader.fieldnames:
                    raise RecordError(f"{path}:1: the captions CSV needs a header with an 'image' column "
                                      f"(and 'caption', optional 'threat_category')")
                for rec in reader:
                    rows.append((f"{path}:{reader.line_num}", rec))
        except UnicodeDecodeError:
            from ...records.reader import non_utf8_where

            raise RecordError(non_utf8_where(path), "non_utf8") from None
        except csv.Error as err:
            raise RecordError(f"{path}: malformed CSV ({err})") from None
    out: dict[str, dict] = {}
    root = os.path.abspath(images_dir)
    for where, rec in rows:
        image = rec.get("image")
        if not isinstance(image, str) or not image.strip():
            raise RecordError(f"{where}: 'image' is empty")
        rel = os.path.relpath(image, root) if os.path.isabs(image) else os.path.normpath(image)
        if rel.startswith(".."):
            raise RecordError(f"{where}: image {image!r} is not inside the images folder {root}")
        if rel in out:
            raise RecordError(f"{where}: image {image!r} has a caption already ({out[rel]['where']})")
        caption = rec.get("caption")
        category = rec.get("threat_category") or rec.get("category")
        if caption is not None and not isinstance(caption, str):
            raise RecordError(f"{where}: 'caption' must be text")
        if category is not None and not isinstance(category, str):
            raise RecordError(f"{where}: 'threat_category' must be text")
        out[rel] = {"caption": (caption or "").strip() or None, "threat_category": (category or "").strip() or None,
                    "where": where}
    return out


def image_item_id(n: int) -> str:
    return f"img-{n:06d}"


def expand(records: list[dict], limit: int | None = None) -> tuple[list[Item], int]:
    """Items (one per picture) from stage-1 records, in order, at most ``limit``; and how many were cut."""
    items: list[Item] = []
    for rec in sorted(records, key=lambda r: r["order"]):
        if not rec.get("ok", True):
            continue
        src = rec["source"]
        if src == "corpus":
            for k, scene in enumerate(rec["scenes"]):
                items.append(Item(f"{rec['id']}-{k:02d}", rec["order"] + [k], src, scene["category"], scene["prompt"],
                                  origin={"path": rec.get("path"), "line": rec.get("line")}))
        elif src == "images":
            items.append(Item(rec["id"], rec["order"], src, rec.get("threat_category"), None, rec["path"],
                              rec.get("caption"), origin={"path": rec["path"]}))
        elif src == "procedural":
            spec = rec["spec"]
            items.append(Item(rec["id"], rec["order"], src, spec["category"], rec.get("prompt"), spec=spec))
        else:
            raise RecordError(f"unknown source {src!r} in scenes.jsonl (id {rec['id']})")
    cut = 0
    if limit is not None and len(items) > limit:
        cut = len(items) - limit
        items = items[:limit]
    return items, cut


__all__ = ["DEFAULT_CATEGORIES", "Item", "SCENE_PROMPT", "expand", "extract_json", "image_item_id", "list_images",
           "parse_scenes", "read_captions", "read_corpus", "read_source_image"]
