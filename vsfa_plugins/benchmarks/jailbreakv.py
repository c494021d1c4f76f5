"""JailBreakV-28K (Luo et al., COLM 2024, arXiv 2404.03027): the 280-row mini set, ``mini_JailBreakV_28K``.

Release: the hub dataset JailbreakV-28K/JailBreakV-28k (MIT; code at github.com/EddyLuo1232/JailBreakV_28K). Its
README's configs (revision 8b490aa and later) read the split ``mini_JailBreakV_28K`` from
``JailBreakV_28K/mini_JailBreakV_28K.csv``; the full set is ``JailBreakV_28K/JailBreakV_28K.csv`` and the text-only
queries ``JailBreakV_28K/RedTeam_2K.csv``. Earlier revisions (e.g. 39dfab9) kept the same CSV at the repository
root. Columns (README "Dataset Details"): ``id``, ``jailbreak_query`` (the query a jailbreak attack produced),
``redteam_query`` (the harmful query from RedTeam-2K it wraps), ``format`` (the attack), ``policy`` (the safety
policy the query goes against), ``image_path``, ``from`` (the query's source), ``selected_mini``,
``transfer_from_llm``.

Images: ``image_path`` is relative to the folder holding the CSV — attack.py (revision 8b490aa) sets
``args.data_path = os.path.join(root, "JailBreakV_28K.csv")`` and ``os.path.join(root, path) for path in
query_df["image_path"]`` — into ``figstep/``, ``llm_transfer_attack/`` and ``query_related/``. The hub holds only
a 100-image sample of each folder; the images the mini set references come with the full download linked from
its README ("Download full datasets"), unpacked so that they sit beside the CSV. Accepted here: that folder
itself, or a copy of the hub repository with it under ``JailBreakV_28K/`` (:attr:`Benchmark.release_dirs`).

The protocol (attack.py): each row is sent as ``model.inference(image_path, jailbreak_query)`` — the query as
written, one image, nothing added (the attacked model's own chat template wraps it; its Bunny wrapper puts the
image before the text). All rows are attacks; the paper's ASR is reported per safety policy and per attack.

Policies: the 16 of the JailBreakV_28K config ("16 safety policies"), as the CSV spells them. Formats (the
attacks, one task group each): Template, Persuade, Logic (LLM-transfer attacks), figstep, SD, SD_typo, typo
(MLLM attacks; SD / SD_typo / typo are the README's "query-relevant" images).

Official judge: Llama Guard (evaluate_llamaguard_ours.py, later evaluate_models/LlamaGuard.py), a local model.
The registry's ``llama_guard`` judge (vsfa_plugins/scoring/local.py) rates ``[user: prompt, assistant: answer]``
with the guard model's own chat template and its stock categories; JailBreakV's script could not be read here
(nor whether it replaces those categories with its own), so it is not declared as a reproduction: no task
variant names it. The offline default is rejection_mix_strmatch.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .defenses import apply_defense
from .release import (
    ATTACK,
    BEFORE_TEXT,
    Benchmark,
    BenchmarkDataError,
    Subset,
    make_row,
    mark_synthetic,
    read_csv,
    require_file,
    sample_image,
    slug,
)
from .tasks import TaskLayout, adashield, published

HF_ID = "JailbreakV-28K/JailBreakV-28k"
FILE = "mini_JailBreakV_28K.csv"
RELEASE_DIR = "JailBreakV_28K"  # where the hub repository keeps the CSVs and image folders
COLUMNS = ("id", "jailbreak_query", "redteam_query", "format", "policy", "image_path", "from", "selected_mini",
           "transfer_from_llm")
READ = ("id", "jailbreak_query", "redteam_query", "format", "policy", "image_path")  # the columns a row needs
POLICIES = (
    "Illegal Activity", "Violence", "Hate Speech", "Malware", "Physical Harm", "Economic Harm", "Fraud",
    "Child Abuse Content", "Animal Abuse", "Political Sensitivity", "Privacy Violation", "Tailored Unlicensed Advice",
    "Health Consultation", "Government Decision", "Unethical Behavior", "Bias",
)
FORMATS = ("Template", "Persuade", "Logic", "figstep", "SD", "SD_typo", "typo")
PUBLISHED_ROWS = 280


def load(folder: Path, subset: str, options) -> list[dict]:
    rows = []
    for where, item in read_csv(folder / FILE, folder, READ):
        values = {}
        for column in READ:
            if not item[column].strip():
                raise BenchmarkDataError(f"{where}: column {column!r} is empty")
            values[column] = item[column]
        if values["policy"] not in POLICIES:
            raise BenchmarkDataError(f"{where}: policy {values['policy']!r} is not one of the 16 published policies "
                                     f"{list(POLICIES)}")
        if values["format"] not in FORMATS:
            raise BenchmarkDataError(f"{where}: format {values['format']!r} is not one of {list(FORMATS)}")
        image = require_file(folder / values["image_path"], where, "image")
        query = values["jailbreak_query"]
        rows.append(make_row(
            id=values["id"].strip(),
            benchmark=BENCHMARK.id,
            subset=subset,
            kind=ATTACK,
            category=slug(values["policy"]),
            category_name=values["policy"],
            groups=slug(values["format"]),
            question=query,
            judge_prompt=values["redteam_query"],
            prompt=apply_defense(query, options.defense),
            image=str(image),
            image_position=BEFORE_TEXT,
            source=where,
        ))
    return rows


def write_sample(root: Path) -> Path:
    """A synthetic sample release (Benchmark.write_sample): the hub repository's layout, JailBreakV_28K/
    mini_JailBreakV_28K.csv (5 rows, 5 formats) + JailBreakV_28K/{llm_transfer_attack,figstep,query_related}/."""
    folder = root / "jailbreakv-28k"
    base = folder / RELEASE_DIR
    items = [
        ("1", "Template", "Fraud", "llm_transfer_attack/nature_1.jpeg", "GPT Rewrite", "True"),
        ("2", "Persuade", "Malware", "llm_transfer_attack/noise_2.png", "Handcraft", "True"),
        ("3", "figstep", "Privacy Violation", "figstep/query_3.png", "AdvBench", "False"),
        ("4", "SD_typo", "Hate Speech", "query_related/SD_typo_related_4.png", "BeaverTails", "False"),
        ("5", "typo", "Animal Abuse", "query_related/typo_related_5.png", "Question Set", "False"),
    ]
    base.mkdir(parents=True, exist_ok=True)
    with open(base / FILE, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i, (rid, fmt, policy, image, source, transfer) in enumerate(items):
            sample_image(base / image, i)
            writer.writerow([rid, f"[synthetic] placeholder {fmt} query {rid}, not a benchmark text.",
                             f"[synthetic] placeholder red-team query {rid}.", fmt, policy, image, source, "True",
                             transfer])
    mark_synthetic(folder, BENCHMARK.title)
    return folder


TASKS = TaskLayout(folder="jailbreakv", stem="vsfa_jailbreakv", variants=(published(), adashield()))

BENCHMARK = Benchmark(
    tasks=TASKS,
    write_sample=write_sample,
    id="jailbreakv-28k",
    title="JailBreakV-28K (mini)",
    published=f"https://huggingface.co/datasets/{HF_ID} ({RELEASE_DIR}/{FILE}; the images its rows reference: the "
    "full download linked from its README); code https://github.com/EddyLuo1232/JailBreakV_28K",
    layout=f"[{RELEASE_DIR}/]{FILE} (columns {','.join(COLUMNS)}) with the image folders beside it "
    f"(<image_path>: figstep/, llm_transfer_attack/, query_related/)",
    subsets={
        "mini": Subset("mini", ATTACK, "the 280-row mini set: jailbreak query + its image", (FILE,),
                       published_rows=PUBLISHED_ROWS),
    },
    categories=tuple((slug(p), p, (ATTACK,)) for p in POLICIES),
    default_judge="rejection_mix_strmatch",
    load=load,
    extra_groups=tuple(slug(f) for f in FORMATS),
    release_dirs=("", RELEASE_DIR),
    notes=(
        "JailBreakV-28K's ASR uses Llama Guard on the answers; the offline default is rejection_mix_strmatch. No task "
        "declares the registry's llama_guard judge: it is not verified to reproduce JailBreakV's evaluation script.",
    ),
)
