"""The tiny example datasets shipped in ``llamafactory_configs/data`` (and rebuilt by tests).

Hand-written, mild rows: a few drawn threat-themed scenes (a campfire, a kitchen knife, a wet-floor sign,
a pill bottle, a car crash icon, a lighter) with neutral questions about what is visible. They exist so
the configs run out of the box on a tiny model; real data comes from the builders.

``python -m vsfa_plugins.testing.examples DIR`` rewrites them; the output is byte-identical on every run.
"""

from __future__ import annotations

import json
import os
import sys

from PIL import Image, ImageDraw

from ..records import REFUSAL_SENTENCE

# scene name -> (threat category, background colour, shapes as (kind, box, colour), caption, turns)
SCENES = {
    "campfire": (
        "fire", (30, 30, 60),
        [("rect", (14, 44, 50, 52), (110, 70, 30)), ("ellipse", (20, 18, 44, 46), (240, 120, 20))],
        "An orange flame rising from two brown logs on a dark blue background.",
        [("What colour is the flame?", "The flame is orange."), ("How many logs are under it?", "There are two logs.")],
    ),
    "knife": (
        "weapon", (230, 230, 230),
        [("rect", (8, 28, 40, 36), (160, 160, 170)), ("rect", (40, 26, 58, 38), (60, 40, 20))],
        "A grey blade with a dark brown handle lying horizontally on a light background.",
        [("Which side of the picture is the handle on?", "The handle is on the right side.")],
    ),
    "wet_floor": (
        "accident", (200, 200, 200),
        [("polygon", (32, 8, 56, 56, 8, 56), (250, 210, 0))],
        "A yellow triangular sign standing on a grey floor.",
        [("What shape is the sign?", "The sign is a triangle."), ("What colour is it?", "It is yellow.")],
    ),
    "pills": (
        "drugs", (245, 245, 250),
        [("rect", (22, 14, 42, 50), (230, 120, 40)), ("ellipse", (46, 40, 54, 48), (255, 255, 255))],
        "An orange bottle standing upright next to one small white round tablet.",
        [("How many tablets are outside the bottle?", "There is one tablet outside the bottle.")],
    ),
    "crash": (
        "accident", (120, 170, 120),
        [("rect", (6, 30, 30, 44), (200, 30, 30)), ("rect", (34, 26, 58, 44), (30, 60, 200))],
        "A red car and a blue car touching front to front on a green background.",
        [("What colours are the two cars?", "One car is red and the other is blue.")],
    ),
    "lighter": (
        "fire", (40, 40, 40),
        [("rect", (26, 24, 38, 56), (20, 120, 220)), ("ellipse", (28, 10, 36, 22), (255, 190, 40))],
        "A blue lighter standing upright with a small yellow flame on top.",
        [("Is the object standing or lying down?", "It is standing upright.")],
    ),
}

# Benign LLaVA-style instruction rows for the rejection-mix example (images reused from the scenes).
INSTRUCT_ROWS = [
    ("knife", "What is the colour of the background?", "The background is light grey, almost white."),
    ("crash", "Describe the picture in one sentence.", "Two small cars, one red and one blue, meet in the middle of a green field."),
    ("campfire", "Where is the flame in the picture?", "The flame is in the centre, above the logs."),
    ("pills", "What colour is the bottle?", "The bottle is orange."),
]
# Benign prompts that the rejection-mix recipe answers with the fixed refusal (Wang et al., CVPR 2025).
REJECTION_ROWS = [
    ("wet_floor", "What is written on the sign?"),
    ("lighter", "What is the object in the picture made of?"),
]


def _draw(name: str) -> Image.Image:
    _, background, shapes, _, _ = SCENES[name]
    image = Image.new("RGB", (64, 64), background)
    draw = ImageDraw.Draw(image)
    for kind, box, colour in shapes:
        if kind == "rect":
            draw.rectangle(box, fill=colour)
        elif kind == "ellipse":
            draw.ellipse(box, fill=colour)
        else:
            draw.polygon(box, fill=colour)
    return image


def _dump(path: str, rows: list[dict], jsonl: bool = False) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if jsonl:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        else:
            f.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


def vsfa_rows(modality: str) -> list[dict]:
    rows = []
    for name, (category, _, _, caption, turns) in SCENES.items():
        row = {
            "id": f"{name}-{modality}",
            "threat_category": category,
            "modality": modality,
            "turns": [{"question": q, "answer": a} for q, a in turns],
        }
        if modality != "text":
            row["images"] = [f"images/{name}.png"]
        if modality != "image":
            row["caption"] = caption
        rows.append(row)
    return rows


def rejection_mix_rows() -> list[dict]:
    rows = []
    for i, (name, question, answer) in enumerate(INSTRUCT_ROWS):
        rows.append({
            "id": f"instruct-{i}", "kind": "instruct", "image": f"images/{name}.png",
            "conversations": [{"from": "human", "value": f"<image>\n{question}"}, {"from": "gpt", "value": answer}],
        })
    for i, (name, question) in enumerate(REJECTION_ROWS):
        rows.append({
            "id": f"rejection-{i}", "kind": "rejection", "image": f"images/{name}.png",
            "conversations": [
                {"from": "human", "value": f"<image>\n{question}"}, {"from": "gpt", "value": REFUSAL_SENTENCE},
            ],
        })
    rows.append({
        "id": "instruct-text", "kind": "instruct",
        "conversations": [
            {"from": "human", "value": "Name three primary colours."},
            {"from": "gpt", "value": "Red, yellow and blue."},
        ],
    })
    return rows


DATASET_INFO = {
    "vsfa_example": {"file_name": "vsfa_example.json", "formatting": "vsfa"},
    "vsfa_example_text": {"file_name": "vsfa_example_text.jsonl", "formatting": "vsfa"},
    "vsfa_example_mixed": {"file_name": "vsfa_example_mixed.json", "formatting": "vsfa"},
    "rejection_mix_example": {"file_name": "rejection_mix_example.json", "formatting": "rejection_mix"},
    "rejection_mix_example_keep_eos": {"file_name": "rejection_mix_example.json", "formatting": "rejection_mix_keep_eos"},
}


def write_example_data(out_dir: str) -> list[str]:
    """Write images, datasets and ``dataset_info.json`` into ``out_dir``; returns the files written."""
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    written = []
    for name in SCENES:
        path = os.path.join(out_dir, "images", f"{name}.png")
        _draw(name).save(path, format="PNG", optimize=False)
        written.append(path)
    mixed = [r for i, r in enumerate(vsfa_rows("image")) if i % 2 == 0] + [
        r for i, r in enumerate(vsfa_rows("text")) if i % 2 == 1
    ]
    outputs = {
        "vsfa_example.json": (vsfa_rows("image"), False),
        "vsfa_example_text.jsonl": (vsfa_rows("text"), True),
        "vsfa_example_mixed.json": (mixed, False),
        "rejection_mix_example.json": (rejection_mix_rows(), False),
    }
    for file_name, (rows, jsonl) in outputs.items():
        path = os.path.join(out_dir, file_name)
        _dump(path, rows, jsonl)
        written.append(path)
    path = os.path.join(out_dir, "dataset_info.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(DATASET_INFO, indent=2) + "\n")
    written.append(path)
    return written


if __name__ == "__main__":
    for p in write_example_data(sys.argv[1] if len(sys.argv) > 1 else "llamafactory_configs/data"):
        print(p)
