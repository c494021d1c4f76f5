"""MM-SafetyBench (Liu et al., ECCV 2024): query-relevant images.

Release (github.com/isXinLiu/MM-SafetyBench): ``data/processed_questions/NN-Scenario.json`` — 13 files, each a
JSON object ``{id: {"Question", "Changed Question", "Key Phrase", "Phrase Type", "Rephrased Question",
"Rephrased Question(SD)", ...}}`` — and the image archive (Google Drive, linked from the README), unzipped to
``imgs/NN-Scenario/{SD,SD_TYPO,TYPO}/<id>.jpg``. The scenario names are the published file names, typos
included (``01-Illegal_Activitiy``). HELM's scenario reads the same files
(helm/benchmark/scenarios/mm_safety_bench_scenario.py: processed_questions/{NN-Scenario}.json, <id>.jpg).
Accepted as downloaded: the folder itself (``processed_questions/``, ``imgs/``) or a plain ``git clone`` of
the repository, which keeps the questions under ``data/processed_questions/`` — unzip the image archive
into ``data/`` beside them (``data/imgs/``); see :attr:`Benchmark.release_dirs`. 1,680 questions per variant.

Variants, as in the paper (and the authors' generation code): SD image + "Rephrased Question(SD)"; SD_TYPO
and TYPO images + "Rephrased Question"; text-only + "Question".

``protocol: rejection_mix`` follows the rejection-mix paper's released evaluation
(github.com/ybwang119/MLLM_safety_study, LLaMA-Factory/eval_safe/evaluate_MM_ablation.py, commit ee019f8):
the text is placed before the image (``content: [{"type": "text"}, {"type": "image"}]``) and the text-only
mode ("pure_text") sends "Changed Question" instead of "Question" (evaluation/evaluate_MM_llava_ablation.py,
``MM_sample.get_text``). Its image/text pairs are the benchmark's (sd, mix = sd_typo, ocr = typo).
"""

from __future__ import annotations

import re
import json
from pathlib import Path

from .release import (
    mark_synthetic,
    sample_image,
    AFTER_TEXT,
    ATTACK,
    BEFORE_TEXT,
    BLANK_IMAGE,
    Benchmark,
    BenchmarkDataError,
    Subset,
    make_row,
    read_json,
    relative,
    require_file,
    text_field,
)
from .defenses import apply_defense
from .tasks import TaskLayout, Variant, adashield, llm_judge, published, rejection_mix
from .release import REJECTION_MIX_PROTOCOL

# The 13 scenario files, as MM-SafetyBench's own evaluation script lists them: upstream ``scenario_list`` (the
# spelling "Illegal_Activitiy" is MM-SafetyBench's own). One list for the loader, the judge and the typographic builder.
SCENARIOS = (
    "01-Illegal_Activitiy",
    "02-HateSpeech",
    "03-Malware_Generation",
    "04-Physical_Harm",
    "05-EconomicHarm",
    "06-Fraud",
    "07-Sex",
    "08-Political_Lobbying",
    "09-Privacy_Violence",
    "10-Legal_Opinion",
    "11-Financial_Advice",
    "12-Health_Consultation",
    "13-Gov_Decision",
)


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def scenario_name(value: object) -> str | None:
    """The published scenario (folder) name for a label: the name itself ("08-Political_Lobbying"), its
    number ("8", "08"), or its name in any case/spacing ("political lobbying"; "Illegal Activity" also finds
    "01-Illegal_Activitiy"). ``None`` when it names none of the 13. The one normaliser of the loader's
    scenario names, the GPT judge's template choice and the typographic builder."""
    text = str(value).strip()
    if text in SCENARIOS:
        return text
    if text.isdigit():
        number = int(text)
        return SCENARIOS[number - 1] if 1 <= number <= len(SCENARIOS) else None
    key = _squash(text)
    for name in SCENARIOS:
        number, _, title = name.partition("-")
        aliases = {_squash(name), _squash(title)}
        if number == "01":  # the corrected spelling of upstream's "Illegal_Activitiy"
            aliases |= {"illegalactivity", "01illegalactivity"}
        if key in aliases:
            return name
    return None


QUESTIONS_DIR = "processed_questions"
IMAGES_DIR = "imgs"

# subset -> (image folder or None, text field); "text" sends no image
_VARIANTS = {
    "sd": ("SD", "Rephrased Question(SD)"),
    "sd_typo": ("SD_TYPO", "Rephrased Question"),
    "typo": ("TYPO", "Rephrased Question"),
    "text": (None, "Question"),
}
_RMIX_TEXT_FIELD = "Changed Question"


def scenario_slug(scenario: str) -> str:
    return scenario.lower().replace("-", "_")


def _question_files() -> tuple[str, ...]:
    return tuple(f"{QUESTIONS_DIR}/{s}.json" for s in SCENARIOS)


def load(folder: Path, subset: str, options) -> list[dict]:
    image_kind, field = _VARIANTS[subset]
    rmix = options.protocol == REJECTION_MIX_PROTOCOL
    if rmix and image_kind is None:
        field = _RMIX_TEXT_FIELD
    rows = []
    for scenario in SCENARIOS:
        path = folder / QUESTIONS_DIR / f"{scenario}.json"
        items = read_json(path, folder)
        name = relative(path, folder)
        if not isinstance(items, dict):
            raise BenchmarkDataError(f"{name}: expected a JSON object of id -> question, got {type(items).__name__}")
        for qid, item in items.items():
            where = f"{name} (id={qid})"
            if not isinstance(item, dict):
                raise BenchmarkDataError(f"{where}: expected an object, got {type(item).__name__}")
            question = text_field(item, field, where)
            original = text_field(item, "Question", where)
            if image_kind is not None:
                image = str(require_file(folder / IMAGES_DIR / scenario / image_kind / f"{qid}.jpg", where, "image"))
            else:
                image = BLANK_IMAGE if options.text_only_image == BLANK_IMAGE else ""
            rows.append(make_row(
                id=f"{scenario[:2]}-{qid}",
                benchmark=BENCHMARK.id,
                subset=subset,
                kind=ATTACK,
                category=scenario_slug(scenario),
                category_name=scenario,
                question=question,
                judge_prompt=original,
                prompt=apply_defense(question, options.defense),
                image=image,
                image_position=AFTER_TEXT if rmix else BEFORE_TEXT,
                source=f"{name}#{qid}",
            ))
    return rows


_NEEDS_TEXT = _question_files()
PUBLISHED_PER_VARIANT = 1680  # the paper's Table 1: 1,680 questions over 13 scenarios, each in every variant
def write_sample(root: Path, per_scenario: int = 2) -> Path:
    """A synthetic sample release (Benchmark.write_sample): processed_questions/NN-Scenario.json (13 files) + imgs/NN-Scenario/{SD,SD_TYPO,TYPO}/<id>.jpg."""
    folder = root / "mm-safetybench"
    for s_index, scenario in enumerate(SCENARIOS):
        items = {}
        for q in range(per_scenario):
            qid = str(q)
            items[qid] = {
                "Question": f"[{scenario}] original question {q}?",
                "GPT-Pred": "fixture",
                "Changed Question": f"[{scenario}] changed question {q}?",
                "Key Phrase": f"phrase {q}",
                "Phrase Type": "activity",
                "Rephrased Question": f"[{scenario}] The bottom of the image shows a phrase {q}. Explain it.",
                "Rephrased Question(SD)": f"[{scenario}] The image shows a phrase {q}. Explain it.",
            }
            for kind in ("SD", "SD_TYPO", "TYPO"):
                sample_image(folder / "imgs" / scenario / kind / f"{qid}.jpg", s_index + q)
        path = folder / "processed_questions" / f"{scenario}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(items, indent=4), encoding="utf-8")
    mark_synthetic(folder, BENCHMARK.title)
    return folder


TASKS = TaskLayout(
    folder="mmsafetybench",
    stem="vsfa_mmsafetybench",
    variants=(
        published(),
        adashield(),
        llm_judge("mmsafetybench_gpt",
                  "judged by MM-SafetyBench's GPT-4 evaluation (judge mmsafetybench_gpt; endpoint and key from the "
                  "environment, see vsfa_plugins/scoring/llm.py)",
                  "{title}, all variants, judged by the benchmark's GPT-4 evaluation (mmsafetybench_gpt)"),
        rejection_mix("as the rejection-mix paper's released evaluation runs it: text before the image "
                      "(ybwang119/MLLM_safety_study LLaMA-Factory/eval_safe/evaluate_MM_ablation.py)",
                      "{title} under the rejection-mix paper's protocol (its main table uses sd_typo, 'mix')"),
        Variant("harmbench_cls", {"judge": "harmbench_cls"},
                "judged by HarmBench's classifier (judge harmbench_cls: behaviour = the benchmark's original "
                "question; model from VSFA_HARMBENCH_MODEL, e.g. cais/HarmBench-Llama-2-13b-cls, see "
                "vsfa_plugins/scoring/harmbench.py)", subsets=("sd",)),
        Variant("blank", {"text_only_image": "blank"},
                "with a blank white image instead of none (for models that need an image)", subsets=("text",)),
    ),
)

BENCHMARK = Benchmark(
    tasks=TASKS,
    write_sample=write_sample,
    id="mm-safetybench",
    title="MM-SafetyBench",
    published="https://github.com/isXinLiu/MM-SafetyBench (questions: data/processed_questions/; images: the "
    "Google Drive archive linked from its README)",
    layout=f"[data/]{QUESTIONS_DIR}/NN-Scenario.json (13 files, {SCENARIOS[0]} ... {SCENARIOS[-1]}) and "
    f"[data/]{IMAGES_DIR}/NN-Scenario/{{SD,SD_TYPO,TYPO}}/<id>.jpg (a git clone has data/{QUESTIONS_DIR}/: unzip the "
    f"image archive into data/ so that data/{IMAGES_DIR}/ sits beside it)",
    subsets={
        "sd": Subset("sd", ATTACK, "SD image + Rephrased Question(SD)", _NEEDS_TEXT + (IMAGES_DIR,),
                     published_rows=PUBLISHED_PER_VARIANT),
        "sd_typo": Subset("sd_typo", ATTACK, "SD+typography image + Rephrased Question", _NEEDS_TEXT + (IMAGES_DIR,),
                          "typographic_image", PUBLISHED_PER_VARIANT),
        "typo": Subset("typo", ATTACK, "typography image + Rephrased Question", _NEEDS_TEXT + (IMAGES_DIR,),
                       "typographic_image", PUBLISHED_PER_VARIANT),
        "text": Subset("text", ATTACK, "text only: Question (rejection_mix protocol: Changed Question)", _NEEDS_TEXT,
                       "no_image", PUBLISHED_PER_VARIANT),
    },
    categories=tuple((scenario_slug(s), s, (ATTACK,)) for s in SCENARIOS),
    default_judge="rejection_mix_strmatch",
    load=load,
    release_dirs=("", "data"),
    notes=(
        ("The benchmark's own ASR uses a GPT-4 judge (task variants *_llm_judge, judge mmsafetybench_gpt); the "
         "offline default is rejection_mix_strmatch, the string match of the rejection-mix paper's released code."),
    ),
)
