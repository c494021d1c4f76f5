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

SAFE_RATE = "safe_rate"  # safety-scheme judges: judged safe ÷ judged rows (``vsfa score``)
#: a group spanning several benchmarks: the unweighted mean of their ASRs (a paper table's "average")
ASR_MEAN_OF_BENCHMARKS = "asr_mean_of_benchmarks"

ATTACK_METRICS = (ASR, REFUSAL_RATE)
BENIGN_METRICS = (OVER_REFUSAL_RATE, FULL_REFUSAL_RATE)
COMMON_METRICS = (JUDGE_ERROR_RATE, ATTEMPTS_PER_PROMPT, JUDGE_TAG)
#: the headline metric of each row kind (also the per-category metric: ``asr__<category>``)
MAIN_METRIC = {ATTACK: ASR, BENIGN: OVER_REFUSAL_RATE}
CATEGORY_SEPARATOR = "__"

# --- integer counts (summed over docs; every pooled rate is one of these over another) -------------
# Groups, ``vsfa score`` and ``vsfa report`` compute every pooled rate from these same integers, so they
# agree exactly (a rate re-multiplied by a size would not once judge errors differ between members).
ATTACK_ROWS = "attack_rows"
ATTACK_JUDGED = "attack_judged"  # attack rows with a verdict: the denominator of asr and refusal_rate
ASR_HITS = "asr_hits"
REFUSAL_HITS = "refusal_hits"
BENIGN_ROWS = "benign_rows"
BENIGN_JUDGED = "benign_judged"  # benign rows with a verdict: the denominator of the over-refusal rates
OVER_REFUSAL_HITS = "over_refusal_hits"
FULL_REFUSAL_HITS = "full_refusal_hits"
JUDGE_ERRORS = "judge_errors"
ROWS = "rows"
ATTACK_COUNTS = (ATTACK_ROWS, ATTACK_JUDGED, ASR_HITS, REFUSAL_HITS)
BENIGN_COUNTS = (BENIGN_ROWS, BENIGN_JUDGED, OVER_REFUSAL_HITS, FULL_REFUSAL_HITS)
COMMON_COUNTS = (JUDGE_ERRORS,)
#: rate -> (numerator count, denominator count); ``judge_error_rate`` is over all rows
RATE_COUNTS = {
    ASR: (ASR_HITS, ATTACK_JUDGED),
    REFUSAL_RATE: (REFUSAL_HITS, ATTACK_JUDGED),
    OVER_REFUSAL_RATE: (OVER_REFUSAL_HITS, BENIGN_JUDGED),
    FULL_REFUSAL_RATE: (FULL_REFUSAL_HITS, BENIGN_JUDGED),
    JUDGE_ERROR_RATE: (JUDGE_ERRORS, ROWS),
}

# --- 95 % intervals -------------------------------------------------------------------------------
#: lmms-eval results: ``<rate>_ci95_low`` / ``<rate>_ci95_high`` beside each rate
CI_LOW_SUFFIX = "_ci95_low"
CI_HIGH_SUFFIX = "_ci95_high"
#: ``vsfa score`` JSON and the report: ``"<rate>_ci95": [low, high]``
CI_SUFFIX = "_ci95"
#: the interval method of the lmms-eval tasks: ``wilson`` (default) or ``exact`` (Clopper–Pearson)
CI_METHOD_ENV = "VSFA_CI_METHOD"

# --- the per-sample record (one per judged answer; ``vsfa score`` re-judges from it) ---------------
#: the one per-sample field holding the judge record (every other per-sample metric holds only its value)
SAMPLE_RECORD = "vsfa_record"
#: the record's keys. ``judge_prompt`` + ``judge_meta``: exactly what the in-task judge was given
RECORD_FIELDS = (
    "id", "source", "benchmark", "subset", "kind", "benign", "category", "scenario", "groups", "cluster", "image",
    "judge_prompt", "judge_meta", "judge_id", "prompt_hash", "label", "reason", "attempts", "labels",
)

# --- per-sample fields of older files (every metric dict carried them; ``vsfa score`` still reads them)
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


def ci_keys(rate: str) -> tuple[str, str]:
    """``(<rate>_ci95_low, <rate>_ci95_high)``: the lmms-eval metric keys of a rate's interval."""
    return f"{rate}{CI_LOW_SUFFIX}", f"{rate}{CI_HIGH_SUFFIX}"


def cluster_id(benchmark: str, row_id: str) -> str:
    """Rows that share a source question: MM-SafetyBench's SD / SD_TYPO / TYPO / text rows of one question
    and VLGuard's safe and unsafe instruction on one image carry the same row id in every subset, so
    benchmark + row id names the cluster (one row per cluster everywhere else)."""
    return f"{benchmark}:{row_id}"


def row_key(benchmark: str, subset: str, row_id: str) -> str:
    """What pairs a prompt across runs (``vsfa compare``): benchmark + subset + row id, never position."""
    return f"{benchmark}/{subset}/{row_id}"
