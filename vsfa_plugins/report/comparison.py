"""The report's paired comparisons: every later run against the first, on the prompts both ran.

The same comparisons as ``vsfa compare FIRST LATER ...`` (:mod:`vsfa_plugins.scoring.compare`): per task
(and per category within it, and per benchmark pooled over its tasks), rows paired by
benchmark/subset/id from each task's newest samples file (the in-task records' labels), exact McNemar p,
Newcombe's paired interval for the difference, Holm's adjustment over every row of the table, and the
smallest difference each comparison could detect. Reads the samples files the runs name (so, unlike
:mod:`.summary`, it does file I/O); a task whose samples are missing or unreadable is listed as not
comparable, never an error of the report.
"""

from __future__ import annotations

from collections.abc import Sequence

from .collect import Run, prose

ANCHOR = "paired"
TITLE = "Paired comparisons (each run vs the first)"


def comparison_section(runs: Sequence[Run]):
    """A :class:`~.summary.Section` comparing ``runs[1:]`` with ``runs[0]``; None for a single run or when no
    run has a safety task or score file."""
    from ..scoring.compare import (
        DEFAULT_ALPHA,
        compare_sources,
        fmt_difference,
        fmt_p,
        fmt_rate,
        pairing_line,
        source_from_run,
    )
    from .summary import METRIC_LABEL, NONE, Section, Table

    if len(runs) < 2 or not any(run.safety or run.scores for run in runs):
        return None
    first, *later = (source_from_run(run, strict=False) for run in runs)
    document = compare_sources(first, later, DEFAULT_ALPHA, require_pairs=False)

    def rate(value, ci) -> str:
        return NONE if value is None else f"{fmt_rate(value)} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"

    metric_words = {"asr": METRIC_LABEL["attack"], "over_refusal_rate": METRIC_LABEL["benign"]}
    rows = []
    for u in document["comparisons"]:
        if u["level"] == "benchmark":
            task, category = f"pooled: {', '.join(u['tasks'])}", "all"
        else:
            task, category = u["task"], u["category"] or "all"
        holds = NONE if u["p_holm"] is None else ("yes" if u["holds"] else "no")
        rows.append((u["b"], u["benchmark"], task, metric_words[u["metric"]], category, str(u["n"]),
                     rate(u["rate_a"], u["rate_a_ci95"]), rate(u["rate_b"], u["rate_b_ci95"]),
                     fmt_difference(u).replace("—", NONE), fmt_p(u["p"]).replace("—", NONE),
                     fmt_p(u["p_holm"]).replace("—", NONE), holds, u["smallest_detectable"]))
    name = runs[0].name
    text = (f"Each later run against the first ({prose(name)}) on the prompts both ran: rows paired by "
            "benchmark/subset/id (never by position) from each task's newest samples file, using the in-task "
            "judge's labels. ASR: full compliance; over-refusal: full or partial refusal. Rates with Wilson 95% "
            "intervals; Δ = run − first in percentage points with Newcombe's paired 95% interval; p: exact "
            f"McNemar. Holds: Holm-adjusted p < {DEFAULT_ALPHA:g}, the family being every row of this table. "
            "Smallest detectable: the smallest difference the exact test could call significant with this n "
            "and this number of discordant pairs (smaller true differences cannot show here). Per category "
            "when a task has several; pooled per benchmark over its tasks when it has several.")
    blocks: list = [text]
    if rows:
        columns = ("Run", "Benchmark", "Variant (task)", "Metric", "Category", "n paired", f"{name} (first)",
                   "Run's rate", "Δ [95% CI] (points)", "p", "p (Holm)", "Holds", "Smallest detectable")
        blocks.append(Table(columns, tuple(rows), frozenset({5, 6, 7, 8, 9, 10})))
    else:
        blocks.append("No task could be compared.")
    bullets = [prose(pairing_line(entry)) for entry in document["pairing"]]
    bullets += [prose(note) for note in document["notes"]]
    if bullets:
        blocks.append(bullets)
    return Section(ANCHOR, TITLE, blocks)


__all__ = ["ANCHOR", "TITLE", "comparison_section"]
