"""Judges and safety metrics. Plain Python: imports neither LLaMA-Factory nor lmms-eval.

- :mod:`.verdict` — the ``Verdict`` every judge returns, the judge registry and judge metadata
- :mod:`.keyword` — published string-matching judges (verbatim) and ours (``vsfa_keyword``)
- :mod:`.llm` — MM-SafetyBench / XSTest GPT judges (verbatim prompts) and VSFA's constructive score
- :mod:`.local` — a Llama-Guard-class local classifier; :mod:`.harmbench` — HarmBench's classifier
- :mod:`.offline` — ``vsfa_offline`` (rules + a small linear model); :mod:`.judge_eval` — agreement with humans
- :mod:`.batch` — ``judge_many`` over any judge; :mod:`.metrics` — ASR, refusal, over-refusal, kappa
- :mod:`.samples` — reading lmms-eval ``--log_samples`` files; :mod:`.cli` — ``vsfa score``

Importing this package is cheap: judges register when first looked up (``get_judge``).
"""

from .batch import judge_many
from .metrics import ASRDefinition, aggregate_attempts, cohen_kappa, judge_agreement, summarize
from .verdict import (
    COMPLIANCE,
    JUDGE_ERROR,
    JUDGES,
    LABELS,
    NON_ANSWER,
    PARTIAL,
    REFUSAL,
    JudgeInfo,
    Verdict,
    available_judges,
    get_judge,
    get_judge_info,
    register_judge,
    text_hash,
)

__all__ = [
    "ASRDefinition", "COMPLIANCE", "JUDGES", "JUDGE_ERROR", "JudgeInfo", "LABELS", "NON_ANSWER", "PARTIAL", "REFUSAL", "Verdict",
    "aggregate_attempts", "available_judges", "cohen_kappa", "get_judge", "get_judge_info", "judge_agreement",
    "judge_many", "register_judge", "summarize", "text_hash",
]
