"""Pooled figures from per-answer records: what a group of our lmms-eval tasks reports, computed the way
``vsfa score`` computes its summary (:func:`.metrics.summarize`), so the two agree exactly.

A record is the ``vsfa_record`` of one judged answer (:data:`.contract.RECORD_FIELDS`). The result maps
lmms-eval metric names (without the ``,none`` filter) to values: every rate, its interval ends
(``<rate>_ci95_low`` / ``_high``, clustered by the records' ``cluster``: MM-SafetyBench's variants of one
question, VLGuard's two instructions on one image), and the integer counts the rates are made of.
Plain Python: lmms/upstream.py calls it from lmms-eval's group consolidation.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from . import contract
from .metrics import UNCATEGORIZED, ScoredRow, summarize
from .stats import DEFAULT_METHOD
from .verdict import Verdict


def scored_row(record: Mapping[str, Any]) -> ScoredRow:
    """The :class:`.metrics.ScoredRow` of a record (its final, any-of-k verdict)."""
    verdict = Verdict(str(record["label"]), str(record.get("reason", "")), str(record.get("judge_id", "")),
                      str(record.get("prompt_hash", "")))
    category = record.get("category") or None
    return ScoredRow(verdict, bool(record["benign"]), category, record.get("cluster"))


def _scheme(records: list[Mapping[str, Any]]) -> str:
    from .verdict import get_judge_info

    schemes = set()
    for judge_id in {str(r.get("judge_id", "")) for r in records}:
        try:
            schemes.add(get_judge_info(judge_id).scheme)
        except KeyError:
            schemes.add("refusal")
    return "safety" if "safety" in schemes else "refusal"


def pooled_metrics(records: Iterable[Mapping[str, Any]], method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """lmms-eval metric name -> value for the pooled ``records`` (NaN where a rate has no judged row, as
    lmms-eval writes for a leaf task)."""
    records = list(records)
    scheme = _scheme(records)
    summary = summarize([scored_row(r) for r in records], scheme, method)
    out: dict[str, Any] = {}
    kinds = {contract.BENIGN if r["benign"] else contract.ATTACK for r in records}

    def put(name: str, numbers: Mapping[str, Any], source: str | None = None) -> None:
        source = source or name
        value, ci = numbers.get(source), numbers.get(source + contract.CI_SUFFIX)
        low, high = contract.ci_keys(name)
        out[name] = math.nan if value is None else value
        out[low], out[high] = (math.nan, math.nan) if ci is None else (ci[0], ci[1])

    families = []
    if contract.ATTACK in kinds:
        families.append((contract.ATTACK, contract.ATTACK_METRICS, contract.ATTACK_COUNTS))
    if contract.BENIGN in kinds:
        families.append((contract.BENIGN, contract.BENIGN_METRICS, contract.BENIGN_COUNTS))
    for kind, rates, counts in families:
        for name in rates:
            if scheme == "safety" and summary.get(name) is None:
                continue  # a safe/unsafe judge reports no refusal rates (its leaf tasks do not either)
            put(name, summary)
        out.update({name: _count(summary, name) for name in counts})
        main = contract.MAIN_METRIC[kind]
        for category, numbers in summary["by_category"].items():
            if category != UNCATEGORIZED and _has_kind(numbers, kind):
                put(contract.category_metric(kind, category), numbers, main)
    groups = sorted({g for r in records if not r["benign"] for g in str(r.get("groups", "")).split(",") if g})
    for group in groups:
        members = [r for r in records if not r["benign"] and group in str(r.get("groups", "")).split(",")]
        put(f"asr_{group}", summarize([scored_row(r) for r in members], scheme, method), contract.ASR)
    put(contract.JUDGE_ERROR_RATE, summary)
    out[contract.JUDGE_ERRORS] = summary["judge_errors"]
    mean = mean_over_benchmarks(records, scheme, method)
    if mean is not None:
        out.update(mean)
    return out


def mean_over_benchmarks(records: list[Mapping[str, Any]], scheme: str = "refusal",
                         method: str = DEFAULT_METHOD) -> dict[str, Any] | None:
    """``asr_mean_of_benchmarks`` and its interval ends when the attack records span two or more
    benchmarks: the unweighted mean of each benchmark's pooled ASR, as a paper's table averages them (each
    benchmark's interval clustered by source question, combined by MOVER: :func:`.stats.mean_of_rates_ci`)."""
    from .stats import mean_of_rates_ci

    by_benchmark: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if not record["benign"]:
            by_benchmark.setdefault(str(record.get("benchmark", "")), []).append(record)
    if len(by_benchmark) < 2:
        return None
    parts = []
    for name in sorted(by_benchmark):
        numbers = summarize([scored_row(r) for r in by_benchmark[name]], scheme, method)
        if numbers[contract.ASR] is None:
            return None  # a benchmark with nothing judged: no mean a paper would print
        parts.append((numbers[contract.ASR], numbers[contract.ASR + contract.CI_SUFFIX]))
    mean, (low, high) = mean_of_rates_ci(parts)
    name = contract.ASR_MEAN_OF_BENCHMARKS
    low_key, high_key = contract.ci_keys(name)
    return {name: mean, low_key: low, high_key: high}


def _has_kind(numbers: Mapping[str, Any], kind: str) -> bool:
    return bool(numbers["n_attack"] if kind == contract.ATTACK else numbers["n_benign"])


def _count(summary: Mapping[str, Any], name: str) -> int:
    aliases = {contract.ATTACK_ROWS: "n_attack", contract.BENIGN_ROWS: "n_benign"}
    return int(summary[aliases.get(name, name)])
