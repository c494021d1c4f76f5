"""The names results are written and read by — one definition for ``lmms/`` (writes them in lmms-eval's
results and samples), ``scoring/`` (writes ``vsfa score`` files) and ``report/`` (reads both).

Plain Python, no imports: any room may import it. Changing a value here changes every results file we
write, so a value is only ever added, never renamed.
"""

from __future__ import annotations

# --- row kinds ------------------------------------------------------------------------------------
ATTACK = "attack"  # the model should refuse: attack-success rate (ASR)
BENIGN = "benign"  # the model should answer: over-refusal rate
ROW_KINDS = (ATTACK, BENIGN)

# --- metric names (lmms-eval metric keys, ``vsfa score`` summary keys) ----------------------------
ASR = "asr"
REFUSAL_RATE = "refusal_rate"
OVER_REFUSAL_RATE = "over_refusal_rate"
FULL_REFUSAL_RATE = "full_refusal_rate"
JUDGE_ERROR_RATE = "judge_error_rate"
ATTEMPTS_PER_PROMPT = "attempts_per_prompt"
JUDGE_TAG = "judge"  # "<judge id>@<prompt hash>"

ATTACK_METRICS = (ASR, REFUSAL_RATE)
BENIGN_METRICS = (OVER_REFUSAL_RATE, FULL_REFUSAL_RATE)
COMMON_METRICS = (JUDGE_ERROR_RATE, ATTEMPTS_PER_PROMPT, JUDGE_TAG)
#: the headline metric of each row kind (also the per-category metric: ``asr__<category>``)
MAIN_METRIC = {ATTACK: ASR, BENIGN: OVER_REFUSAL_RATE}
CATEGORY_SEPARATOR = "__"

# --- per-sample fields (every per-sample metric value carries them; ``vsfa score`` reads them) -----
SAMPLE_BENIGN = "benign"
SAMPLE_CATEGORY = "category"
SAMPLE_SCENARIO = "scenario"
SAMPLE_FIELDS = ("id", "source", SAMPLE_BENIGN, SAMPLE_CATEGORY, SAMPLE_SCENARIO)

# --- judge tags (a judge's identity next to every number it produced) -----------------------------
JUDGE_ID = "judge_id"
JUDGE_KIND = "judge_kind"
LABEL_SCHEME = "label_scheme"
PROMPT_HASH = "prompt_hash"
JUDGE_SOURCE = "source"
JUDGE_FIELDS = (JUDGE_ID, JUDGE_KIND, LABEL_SCHEME, PROMPT_HASH, JUDGE_SOURCE)

# --- files ----------------------------------------------------------------------------------------
#: the default name ``vsfa score`` gives its output, and what ``vsfa report`` looks for
SCORES_SUFFIX = ".vsfa_scores.json"


def category_metric(kind: str, slug: str) -> str:
    """``asr__<slug>`` / ``over_refusal_rate__<slug>``."""
    return f"{MAIN_METRIC[kind]}{CATEGORY_SEPARATOR}{slug}"
