"""MM-Vet (Yu et al., 2023) as an over-refusal set: its benign questions, the VSFA paper's helpfulness set.

Release: ``mm-vet.zip`` of github.com/yuweihao/MM-Vet (releases/download/v1/mm-vet.zip), unzipped as
``mm-vet/``: ``mm-vet.json`` — ``{"v1_<i>": {"imagename": "v1_<i>.<png|jpg>", "question", "answer",
"capability": [...]}}``, 218 questions — and ``images/<imagename>``. The repository's own inference reads
exactly these (inference/utils.py ``evaluate_on_mmvet``, commit 50462a4: ``image_folder = mmvet_path/images``,
``meta_data = mmvet_path/mm-vet.json``, ``prompt = data[id]['question']``) and the grader reads
``capability`` (mm-vet_evaluator.py, commit 7d717c2). Drop either the zip's ``mm-vet/`` folder or its contents
into ``$VSFA_DATA_ROOT/mm-vet/``.

Why here and not lmms-eval's stock ``mmvet``: that task grades every answer with GPT-4 inside
``process_results`` (no key: no score) and reads a gated hub copy; this one asks the same questions and
counts refusals (benign rows: over-refusal), offline. MM-Vet's correctness grade is a capability score, not a
refusal judgement, so it is not one of this benchmark's judges (use ``vsfa score --judge vsfa_cs`` for the
constructive score). Capabilities are multi-label (a row needs e.g. OCR and math), so rows carry no single
category here.
"""

from __future__ import annotations

import json
from pathlib import Path

from .defenses import apply_defense
from .release import (
    BEFORE_TEXT,
    BENIGN,
    Benchmark,
    BenchmarkDataError,
    Subset,
    make_row,
    mark_synthetic,
    read_json,
    relative,
    require_file,
    sample_image,
    text_field,
)
from .tasks import SUITE, TaskLayout, Variant, adashield

FILE = "mm-vet.json"
IMAGES = "images"
#: MM-Vet's six core capabilities, as ``capability`` spells them
CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")


def load(folder: Path, subset: str, options) -> list[dict]:
    path = folder / FILE
    items = read_json(path, folder)
    name = relative(path, folder)
    if not isinstance(items, dict):
        raise BenchmarkDataError(f"{name}: expected a JSON object of id -> question, got {type(items).__name__}")
    rows = []
    for qid, item in items.items():
        where = f"{name} (id={qid})"
        if not isinstance(item, dict):
            raise BenchmarkDataError(f"{where}: expected an object, got {type(item).__name__}")
        question = text_field(item, "question", where)
        capability = item.get("capability")
        if not isinstance(capability, list) or not capability or any(c not in CAPABILITIES for c in capability):
            raise BenchmarkDataError(f"{where}: 'capability' must be a non-empty list of {CAPABILITIES}, "
                                     f"got {capability!r:.80}")
        image = require_file(folder / IMAGES / text_field(item, "imagename", where), where, "image")
        rows.append(make_row(
            id=str(qid),
            benchmark=BENCHMARK.id,
            subset=subset,
            kind=BENIGN,
            category="",
            category_name="",
            question=question,
            judge_prompt=question,
            prompt=apply_defense(question, options.defense),
            image=str(image),
            image_position=BEFORE_TEXT,
            source=f"{name}#{qid}",
        ))
    return rows


def write_sample(root: Path) -> Path:
    """A synthetic sample release (Benchmark.write_sample): mm-vet.json + images/, four placeholder questions."""
    folder = root / BENCHMARK.id
    items = {}
    for i, (question, capability) in enumerate((
        ("Synthetic sample: what colour is the square?", ["rec"]),
        ("Synthetic sample: what does the label in the image say?", ["ocr"]),
        ("Synthetic sample: how many squares are shown, times two?", ["rec", "math"]),
        ("Synthetic sample: write a short poem about this picture.", ["rec", "gen"]),
    )):
        name = f"v1_{i}.png"
        sample_image(folder / IMAGES / name, i)
        items[f"v1_{i}"] = {"imagename": name, "capability": capability, "question": question, "answer": "synthetic"}
    (folder / FILE).write_text(json.dumps(items, indent=4), encoding="utf-8")
    mark_synthetic(folder, BENCHMARK.title)
    return folder


TASKS = TaskLayout(
    folder="mmvet",
    stem="vsfa_mmvet",
    subset_parts={"benign": ""},
    comments={"benign": "MM-Vet, 218 benign questions (over-refusal: refusing any of them is over-refusal)"},
    variants=(Variant("", suite=SUITE), adashield(grouped=False)),
)

BENCHMARK = Benchmark(
    tasks=TASKS,
    write_sample=write_sample,
    id="mm-vet",
    title="MM-Vet",
    published="https://github.com/yuweihao/MM-Vet (releases/download/v1/mm-vet.zip)",
    layout=f"[mm-vet/]{FILE} ({{v1_<i>: {{imagename, question, answer, capability}}}}) and [mm-vet/]{IMAGES}/<imagename>",
    subsets={
        "benign": Subset("benign", BENIGN, "218 benign questions (over-refusal)", (FILE, IMAGES), published_rows=218),
    },
    categories=(),
    default_judge="xstest_strmatch",
    load=load,
    release_dirs=("", "mm-vet"),
)
