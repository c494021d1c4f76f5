"""From runs to the report's content: pooled numbers, comparison tables and figures. No file I/O.

Every table compares runs side by side (one column per run, in command-line order); rows are sorted
(benchmark, task, category), so the same inputs always give the same document.

Pooled numbers (one per run: the summary table, the scatter plot) follow the definitions of
:func:`vsfa_plugins.scoring.metrics.summarize`: **ASR** = full compliance ÷ judged rows over *every* attack
task of the run, **over-refusal** = full + partial refusals ÷ judged rows over every benign task — summed
from each task's integer counts (``asr_hits`` / ``attack_judged``, …), so a pooled rate is one count over
another and equals the group row lmms-eval writes and ``vsfa score``'s summary. Every rate is shown with its
95 % interval (Wilson score; pooled over tasks whose samples carry records, clustered by source question).
**CS** (VSFA's constructive score) is the mean score over every row an LLM judge scored in the run's
``vsfa score`` outputs.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import comparison, plots  # cheap: matplotlib is imported when a figure is drawn
from ..scoring import contract
from ..scoring.contract import MAIN_METRIC
from ..scoring.verdict import KEYWORD_PROXY
from .collect import ATTACK, BENIGN, CapabilityMetric, Judge, JudgeScore, Run, SafetyTask, prose

METRIC_LABEL = {ATTACK: "ASR", BENIGN: "over-refusal"}
NONE = "—"  # no value: the run lacks the task, or the rate has no judged row
SCATTER_FILE = "safety_vs_over_refusal.png"
_DECODING_KEYS = ("max_new_tokens", "temperature", "top_p", "num_beams", "do_sample")


# --------------------------------------------------------------------------------------------------
# the document model (render.py turns it into HTML, Markdown and text)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()  # right-aligned (numeric) columns
    paths: frozenset[int] = frozenset()  # columns of file paths: may break anywhere (HTML)


@dataclass(frozen=True)
class Figure:
    filename: str
    title: str
    png: bytes


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list = field(default_factory=list)  # str (paragraph) | list[str] (bullets) | Table | Figure


# A table cell is plain text; "\n" separates lines within a cell (renderers show a line break). Prose
# (paragraphs, bullets) is text whose only markup is `backticks` for code: names go in through
# :func:`~.collect.prose`. Renderers escape everything else (HTML: html.escape; Markdown: render.md_text).


@dataclass
class Document:
    title: str
    intro: list[str]
    summary: Table  # also what the command prints
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        return [block for section in self.sections for block in section.blocks if isinstance(block, Figure)]


# --------------------------------------------------------------------------------------------------
# pooled numbers per run
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pooled:
    rate: float | None
    judged: int  # denominator: judged rows over the pooled tasks
    tasks: int
    hits: int = 0
    ci: tuple[float, float] | None = None  # 95 % interval (clustered when every task carries its records)
    clustered: bool = False


def pooled(tasks: Iterable[SafetyTask], kind: str) -> Pooled:
    """One rate over the rows of every ``kind`` task: Σ hits ÷ Σ judged rows, from the tasks' integer counts,
    with its 95 % interval — from the per-answer records when every task has them (the pooling of
    :mod:`vsfa_plugins.scoring.pooling`: rows of one source question clustered), else Wilson on the counts."""
    from ..scoring.pooling import pooled_metrics
    from ..scoring.stats import proportion_ci

    chosen = [t for t in tasks if t.kind == kind]
    hits = judged = 0
    for task in chosen:
        if task.hit_count is None or not task.judged:
            continue
        hits += task.hit_count
        judged += task.judged
    rate = hits / judged if judged else None
    records = [r for t in chosen for r in t.records]
    judged_in_records = sum(1 for r in records if r.get("label") != "judge_error")
    # records that do not add up to the tasks' own counts (a samples file appended twice, edited results)
    # cannot carry the interval of those counts: Wilson on the counts then
    if chosen and all(t.records for t in chosen) and judged_in_records == judged:
        figures = pooled_metrics(records)
        low, high = (figures.get(key, math.nan) for key in contract.ci_keys(MAIN_METRIC[kind]))
        return Pooled(rate, judged, len(chosen), hits, None if math.isnan(low) else (low, high), True)
    return Pooled(rate, judged, len(chosen), hits, proportion_ci(hits, judged) if judged else None)


def mean_of_benchmarks(tasks: Iterable[SafetyTask]) -> tuple[float, tuple[float, float], int] | None:
    """The unweighted mean of each benchmark's pooled ASR over the attack tasks (what a paper's table
    averages), with its MOVER interval from each benchmark's own; ``(mean, ci, benchmarks)``, or None for
    fewer than two benchmarks with a judged attack row."""
    from ..scoring.stats import mean_of_rates_ci

    by_benchmark: dict[str, list[SafetyTask]] = defaultdict(list)
    for task in tasks:
        if task.kind == ATTACK:
            by_benchmark[task.benchmark].append(task)
    parts = []
    for name in sorted(by_benchmark):
        got = pooled(by_benchmark[name], ATTACK)
        if got.rate is None or got.ci is None:
            return None
        parts.append((got.rate, got.ci))
    if len(parts) < 2:
        return None
    mean, ci = mean_of_rates_ci(parts)
    return mean, ci, len(parts)


def task_ci(task: SafetyTask) -> tuple[float, float] | None:
    """A task's 95 % interval: the one lmms-eval wrote, else Wilson on its counts."""
    from ..scoring.stats import proportion_ci

    if task.ci is not None:
        return task.ci
    if task.hit_count is None or not task.judged:
        return None
    return proportion_ci(task.hit_count, task.judged)


def pooled_scores(run: Run) -> dict[str, tuple[float, int]]:
    """Per judge that gives scores (e.g. ``vsfa_cs``): (mean score, rows scored) over the run's score files."""
    scores: dict[str, list[float]] = defaultdict(list)
    for score_file in run.scores:
        for judge in score_file.judges:
            scores[judge.judge.judge_id].extend(judge.scores)
    return {judge_id: (sum(v) / len(v), len(v)) for judge_id, v in sorted(scores.items()) if v}


# --------------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return NONE if value is None else f"{100 * value:.1f}%"


def fixed(value: float | None, digits: int = 3) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def number(value: float) -> str:
    """Capability metrics as lmms-eval reports them, without trailing zeros (200.0 -> 200, 0.8333)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def rate_cell(value: float | None, n: int | None, unjudged: int | None, ci: Sequence[float] | None = None) -> str:
    """``25.0% (CI 4.6–69.9, n=4)``: the rate with its 95 % interval in points; judge errors are shown, never
    hidden: ``25.0% (CI 4.6–69.9, n=4, 1 unjudged)``."""
    details = []
    if value is not None and ci is not None:
        details.append(interval_text(ci))
    if n is not None:
        details.append(f"n={n}")
    if unjudged:
        details.append(f"{unjudged} unjudged")
    return pct(value) + (f" ({', '.join(details)})" if details else "")


def interval_text(ci: Sequence[float]) -> str:
    """``CI 4.6–69.9``: a 95 % interval in percentage points."""
    return f"CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def cs_cell(scores: dict[str, tuple[float, int]]) -> str:
    if not scores:
        return NONE
    if len(scores) == 1:
        return fixed(next(iter(scores.values()))[0])
    return "; ".join(f"{fixed(mean)} ({judge_id})" for judge_id, (mean, _) in scores.items())


def capability_cell(metrics: Sequence[CapabilityMetric]) -> str:
    """``mmbench_en_dev_static gpt_eval_score 62.5; mme mme_perception_score 200``: each stock task's
    scores, so capability stands next to the pooled safety numbers (the Capability section has the rest)."""
    per_task: dict[str, list[str]] = {}
    for m in metrics:
        label = m.metric + ("" if m.filter == "none" else f" ({m.filter})")
        per_task.setdefault(m.task, []).append(f"{label} {number(m.value)}")
    return "; ".join(f"{task} {', '.join(scores)}" for task, scores in sorted(per_task.items())) or NONE


def setting(task: SafetyTask) -> str:
    parts = [task.subset or NONE]
    if task.defense not in ("", "none"):
        parts.append(f"defense {task.defense}")
    if task.protocol not in ("", "benchmark"):
        parts.append(f"protocol {task.protocol}")
    return ", ".join(parts)


def safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


# --------------------------------------------------------------------------------------------------
# the document
# --------------------------------------------------------------------------------------------------


def build_document(runs: Sequence[Run], version: str) -> Document:
    names = [run.name for run in runs]
    summary = summary_table(runs)
    sections = [
        _runs_section(runs),
        _summary_section(runs, summary),
        _safety_section(runs),
        _category_section(runs),
        *filter(None, [comparison.comparison_section(runs)]),  # paired tests: later runs vs the first
        _capability_section(runs),
        _rejudged_section(runs),
        _agreement_section(runs),
        _judges_section(runs),
        _protocol_section(runs),
    ]
    notes = [note for run in runs for note in run.notes] + _cross_run_notes(runs)
    if notes:
        sections.append(Section("notes", "Notes", [notes]))
    intro = [(f"Runs: {', '.join(prose(n) for n in names)}. Made by vsfa-plugins {version} (`vsfa report`) from "
              "the lmms-eval results, samples and `vsfa score` outputs in each run directory.")]
    return Document("vsfa report", intro, summary, [s for s in sections if s.blocks])


_METRIC_WORDS = {"refusal_yes_no": "refusal yes/no", "three_class": "3-class", "attack_success": "attack success"}


#: which decision a rate asks of its judge: ASR = attack success, over-refusal = refusal
DECISION_OF = {ATTACK: "attack_success", BENIGN: "refusal"}
_DECISION_WORDS = {"attack_success": "attack-success", "refusal": "refusal"}


def human_agreement(judge_id: str, short: bool = False, decision: str | None = None) -> str:
    """The judge's measured agreement with human labels (``scoring.judge_eval``), as shown next to the numbers
    it produced. With ``decision`` (``attack_success`` next to an ASR, ``refusal`` next to an over-refusal
    rate) only the agreement measured on that decision, or words saying it is unknown — an agreement
    measured on another decision never stands next to a rate."""
    from ..scoring.judge_eval import agreement_for, measured_agreement

    if decision is not None:
        r = agreement_for(judge_id, decision)
        if r is None:
            return f"{_DECISION_WORDS[decision]} agreement not measured"
        ci = r.get("agreement_ci95")
        interval = f"{interval_text(ci)}, " if ci else ""
        return f"{pct(r['agreement'])} on {_DECISION_WORDS[decision]} ({interval}n={r['n']})"
    records = measured_agreement(judge_id)
    if not records:
        return "not measured"
    if short:  # the first record: the headline figure (binary decision of the first labelled set)
        r = records[0]
        return f"{pct(r['agreement'])} {_METRIC_WORDS.get(r['metric'], r['metric'])}"
    parts = []
    for r in records:
        loo = "" if r.get("protocol", "as shipped") == "as shipped" else f", {r['protocol']}"
        extra = ""
        if r.get("agreement_ci95"):
            extra += f", {interval_text(r['agreement_ci95'])}"
        if r.get("sensitivity") is not None:
            extra += (f", sensitivity {r['sensitivity_hits']}/{r['sensitivity_n']}, specificity "
                      f"{r['specificity_hits']}/{r['specificity_n']}")
        parts.append(f"{pct(r['agreement'])} {_METRIC_WORDS.get(r['metric'], r['metric'])} "
                     f"(κ {fixed(r['kappa'])}, n={r['n']}{extra}{loo}; {r['set']}, {r['source']})")
    return "\n".join(parts)


def corrected_asr(judge_id: str, hits: int, judged: int) -> dict | None:
    """The ASR corrected for the judge's measured attack-success sensitivity and specificity (Rogan–Gladen),
    with an interval that carries the uncertainty of that measurement too (:func:`..scoring.stats.rogan_gladen`);
    None when the judge's attack-success agreement is unknown or nothing was judged."""
    from ..scoring.judge_eval import agreement_for
    from ..scoring.stats import rogan_gladen

    r = agreement_for(judge_id, "attack_success")
    if r is None or not judged or r.get("sensitivity_n") is None:
        return None
    return rogan_gladen(hits, judged, r["sensitivity_hits"], r["sensitivity_n"], r["specificity_hits"],
                        r["specificity_n"])


def corrected_cell(task: SafetyTask) -> str:
    if task.kind != ATTACK or task.hit_count is None:
        return NONE
    got = corrected_asr(task.judge.judge_id, task.hit_count, task.judged or 0)
    if got is None:
        return "judge's attack-success agreement unknown"
    if got.get("estimate") is None:
        return f"— ({got.get('reason', 'not estimable')})"
    ci = got.get("ci95")
    return f"≈{pct(got['estimate'])}" + ("" if ci is None else f" ({interval_text(ci)})")


def _proxy_notes(runs: Sequence[Run]) -> list[str]:
    """One line per keyword judge behind the numbers: its ASR is a proxy, with its measured agreement."""
    notes = []
    for judge in _all_judges(runs):
        if judge.kind == KEYWORD_PROXY:
            notes.append(f"ASR and over-refusal judged by `{prose(judge.judge_id)}` are a keyword proxy (string "
                         f"matching, no judgement of harm): measured agreement with human labels "
                         f"{human_agreement(judge.judge_id, decision='attack_success')} "
                         f"(refusal detection: {human_agreement(judge.judge_id, decision='refusal')}); see Judges.")
    return notes


def summary_table(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        attack, benign = pooled(run.safety, ATTACK), pooled(run.safety, BENIGN)
        mean = mean_of_benchmarks(run.safety)
        rows.append((
            run.name,
            rate_cell(attack.rate, attack.judged if attack.tasks else None, None, attack.ci),
            NONE if mean is None else f"{rate_cell(mean[0], None, None, mean[1])} over {mean[2]}",
            rate_cell(benign.rate, benign.judged if benign.tasks else None, None, benign.ci),
            cs_cell(pooled_scores(run)),
            str(attack.tasks),
            str(benign.tasks),
            capability_cell(run.capability),
        ))
    columns = ("Run", "ASR (pooled)", "ASR (mean of benchmarks)", "Over-refusal (pooled)", "CS", "Attack tasks",
               "Benign tasks", "Capability")
    return Table(columns, tuple(rows), frozenset({1, 2, 3, 4, 5, 6}))


def _runs_section(runs: Sequence[Run]) -> Section:
    rows = [
        (run.name, run.directory, ", ".join(run.model_names) or NONE, ", ".join(run.dates) or NONE,
         "\n".join(run.results_files) or NONE, "\n".join(s.path for s in run.scores) or NONE)
        for run in runs
    ]
    table = Table(("Run", "Directory", "Model", "lmms-eval date", "Results files used", "vsfa score files"),
                  tuple(rows), paths=frozenset({1, 4, 5}))
    return Section("runs", "Runs", [table])


def _summary_section(runs: Sequence[Run], summary: Table) -> Section:
    text = ("One line per run. ASR pools every attack task of the run and over-refusal every benign task "
            "(compliance, resp. refusals ÷ judged rows, summed from the tasks' integer counts; judge errors left "
            "out and listed per task below); CI: the 95% Wilson score interval in points, clustered by source "
            "question (MM-SafetyBench's variants of one question, VLGuard's two instructions on one image) "
            "where the samples carry per-answer records. ASR (mean of benchmarks): the unweighted mean of each "
            "benchmark's pooled ASR, as papers' tables average them (MOVER interval, Zou & Donner 2008). "
            "CS: VSFA's constructive score (0–1) from an LLM judge's `vsfa score` output, when one ran.")
    blocks: list[Any] = [text, summary]
    proxies = _proxy_notes(runs)
    if proxies:
        blocks.append(proxies)
    points, missing = [], []
    for run in runs:
        attack, benign = pooled(run.safety, ATTACK), pooled(run.safety, BENIGN)
        if attack.rate is None or benign.rate is None:
            missing.append(run.name)
        else:
            points.append((run.name, benign.rate, attack.rate, benign.ci, attack.ci))
    if points:
        blocks.append(Figure(SCATTER_FILE, "Safety vs over-refusal, one point per run (lower left is better)",
                             plots.scatter(points)))
    if missing:
        blocks.append(f"Not in the plot (no pooled ASR or no pooled over-refusal rate): "
                      f"{', '.join(prose(m) for m in missing)}.")
    return Section("summary", "Summary", blocks)


def _tasks_by_name(runs: Sequence[Run]) -> dict[str, SafetyTask]:
    """Each task once (its first run's record describes it), sorted by benchmark then task."""
    first: dict[str, SafetyTask] = {}
    for run in runs:
        for task in run.safety:
            first.setdefault(task.task, task)
    return dict(sorted(first.items(), key=lambda item: (item[1].benchmark, item[0])))


def _unjudged(task: SafetyTask) -> int | None:
    return None if task.n is None or task.judged is None else task.n - task.judged


def _safety_section(runs: Sequence[Run]) -> Section:
    tasks = _tasks_by_name(runs)
    if not tasks:
        return Section("safety", "Safety per benchmark and variant")
    lookup = {(run.name, t.task): t for run in runs for t in run.safety}
    rows = []
    for name, task in tasks.items():
        cells = []
        for run in runs:
            got = lookup.get((run.name, name))
            cells.append(NONE if got is None else rate_cell(got.value, got.n, _unjudged(got), task_ci(got)))
        judge = f"{task.judge.judge_id}\n{human_agreement(task.judge.judge_id, decision=DECISION_OF[task.kind])}"
        rows.append((task.benchmark_title, name, setting(task), METRIC_LABEL[task.kind], judge, *cells))
    columns = ("Benchmark", "Variant (task)", "Setting", "Metric", "Judge (vs humans, same decision)",
               *(run.name for run in runs))
    table = Table(columns, tuple(rows), frozenset(range(5, 5 + len(runs))))
    corrected = []
    for name, task in tasks.items():
        if task.kind != ATTACK:
            continue
        cells = [NONE if lookup.get((run.name, name)) is None else corrected_cell(lookup[(run.name, name)])
                 for run in runs]
        if any(c not in (NONE, "judge's attack-success agreement unknown") for c in cells):
            corrected.append((name, task.judge.judge_id, *cells))
    text = ("Attack subsets report ASR (full compliance ÷ judged rows), benign subsets over-refusal (full + "
            "partial refusals ÷ judged rows), as lmms-eval aggregated them, with the 95% Wilson interval in "
            "points; n = documents evaluated. Judge: its agreement with human labels measured on the decision "
            "the rate asks of it — attack success next to an ASR, refusal next to an over-refusal rate — with "
            "its 95% interval and n, or words saying it is unknown (details under Judges).")
    blocks: list[Any] = [text, table]
    if corrected:
        blocks.append("Judge-corrected ASR (an estimate): the ASR corrected for the judge's measured attack-success "
                      "sensitivity and specificity (Rogan–Gladen), its 95% interval (Lang & Reiczigel 2014) "
                      "including the uncertainty of the judge's own measurement. It assumes the judge errs on "
                      "these answers as it did on the labelled set.")
        blocks.append(Table(("Variant (task)", "Judge", *(run.name for run in runs)), tuple(corrected),
                            frozenset(range(2, 2 + len(runs)))))
    return Section("safety", "Safety per benchmark and variant", blocks)


def _category_section(runs: Sequence[Run]) -> Section:
    tasks = _tasks_by_name(runs)
    lookup = {(run.name, t.task): t for run in runs for t in run.safety}
    rows, figures = [], []
    for name, task in tasks.items():
        per_run = [lookup.get((run.name, name)) for run in runs]
        labels: dict[str, str] = {}
        for got in per_run:
            for category in got.categories if got else ():
                labels.setdefault(category.slug, category.name)
        if not labels:
            continue
        slugs = sorted(labels)
        for slug in slugs:
            cells = []
            for got in per_run:
                category = next((c for c in got.categories if c.slug == slug), None) if got else None
                cells.append(NONE if category is None else rate_cell(category.value, category.n, category.unjudged,
                                                                     category.ci))
            rows.append((task.benchmark_title, name, METRIC_LABEL[task.kind], labels[slug], *cells))
        if task.kind == ATTACK:
            series = []
            for run, got in zip(runs, per_run):
                values = {c.slug: c.value for c in got.categories} if got else {}
                intervals = {c.slug: c.ci for c in got.categories} if got else {}
                series.append((run.name, [values.get(slug) for slug in slugs], [intervals.get(slug) for slug in slugs]))
            title = f"{task.benchmark_title} — {name}: ASR per category"
            figures.append(Figure(f"asr_by_category_{safe_filename(name)}.png", title,
                                  plots.category_bars(title, [labels[s] for s in slugs], series)))
    if not rows:
        return Section("categories", "Per category")
    columns = ("Benchmark", "Variant (task)", "Metric", "Category", *(run.name for run in runs))
    table = Table(columns, tuple(rows), frozenset(range(4, 4 + len(runs))))
    text = ("The benchmark's own categories (names from the samples files; n = rows of the category), each "
            "rate with its 95% Wilson interval. Plots: ASR per category of each attack variant, one bar per run, "
            "error bars the 95% intervals.")
    return Section("categories", "Per category", [text, table, *figures])


def _capability_section(runs: Sequence[Run]) -> Section:
    keys: dict[tuple[str, str, str], bool | None] = {}
    for run in runs:
        for metric in run.capability:
            keys.setdefault((metric.task, metric.metric, metric.filter), metric.higher_is_better)
    if not keys:
        return Section("capability", "Capability")
    lookup = {(run.name, m.task, m.metric, m.filter): m for run in runs for m in run.capability}
    rows = []
    for (task, metric, filt), higher in sorted(keys.items()):
        arrow = {True: " ↑", False: " ↓"}.get(higher, "")
        label = metric + ("" if filt == "none" else f" ({filt})") + arrow
        cells = []
        for run in runs:
            got = lookup.get((run.name, task, metric, filt))
            cells.append(NONE if got is None else number(got.value) + ("" if got.n is None else f" (n={got.n})"))
        rows.append((task, label, *cells))
    table = Table(("Task", "Metric", *(run.name for run in runs)), tuple(rows), frozenset(range(2, 2 + len(runs))))
    text = ("Stock lmms-eval tasks found in the same results (MME, MMBench, MM-Vet, ...), as lmms-eval "
            "computed them (↑ higher is better, ↓ lower is better).")
    return Section("capability", "Capability", [text, table])


def _rejudged_section(runs: Sequence[Run]) -> Section:
    rows = []
    for run in runs:
        for score_file in run.scores:
            for j in score_file.judges:
                if j.in_task:
                    continue
                rows.append((run.name, score_file.label, j.judge.judge_id, j.judge.kind or NONE,
                             j.judge.prompt_hash or NONE, str(j.n), rate_cell(j.asr, None, None, j.asr_ci),
                             rate_cell(j.over_refusal_rate, None, None, j.over_refusal_ci),
                             fixed(j.mean_score), str(j.judge_errors)))
    if not rows:
        return Section("rejudged", "Re-judged with vsfa score")
    table = Table(("Run", "Scored", "Judge", "Kind", "Prompt hash", "n", "ASR", "Over-refusal", "CS",
                   "Judge errors"), tuple(rows), frozenset({5, 6, 7, 8, 9}))
    text = ("`vsfa score` outputs found in the run directories: every judge that scored the file "
            "(keyword_proxy judges are string matching, a proxy; CS only from judges that give a score), "
            "each rate with its 95% interval.")
    blocks: list[Any] = [text, table]
    side = _side_by_side(runs)
    if side is not None:
        blocks += side
    return Section("rejudged", "Re-judged with vsfa score", blocks)


def _side_by_side(runs: Sequence[Run]) -> list[Any] | None:
    """Per task judged by more than one judge (the in-task one plus `vsfa score`'s): the ASR under each
    judge in each run, the spread between judges, and whether every judge ranks the runs alike."""
    per_task: dict[str, dict[str, dict[str, JudgeScore]]] = defaultdict(dict)  # task -> run -> judge -> score
    for run in runs:
        for score_file in run.scores:
            if score_file.task is None:
                continue
            judges = per_task[score_file.task].setdefault(run.name, {})
            for j in score_file.judges:
                if j.asr is not None:
                    judges[("in-task " if j.in_task else "") + j.judge.judge_id] = j
    rows = []
    for task in sorted(per_task):
        names = sorted({name for judges in per_task[task].values() for name in judges})
        if len(names) < 2:
            continue
        for run in runs:
            judges = per_task[task].get(run.name, {})
            values = [judges[n].asr for n in names if n in judges]
            spread = f"{100 * (max(values) - min(values)):.1f} pts" if len(values) > 1 else NONE
            cells = [rate_cell(judges[n].asr, None, None, judges[n].asr_ci) if n in judges else NONE for n in names]
            rows.append((task, run.name, "; ".join(f"{n}: {c}" for n, c in zip(names, cells)), spread))
        if len(runs) > 1:
            orders = {}
            for name in names:
                scored = [(per_task[task][r.name][name].asr, r.name) for r in runs if name in per_task[task].get(r.name, {})]
                if len(scored) == len(runs):
                    orders[name] = tuple(run_name for _, run_name in sorted(scored))
            same = "yes" if len(set(orders.values())) == 1 and len(orders) > 1 else ("no" if len(orders) > 1 else NONE)
            rows.append((task, "(ranking of runs by ASR)", "; ".join(f"{n}: {' < '.join(o)}" for n, o in orders.items())
                         or NONE, f"same order: {same}"))
    if not rows:
        return None
    text = ("Judges side by side: where a task was judged by more than one judge (its own in-task judge and the "
            "judges of `vsfa score`), the ASR under each, the spread between them, and whether they rank the runs "
            "the same way (lowest ASR first). Their agreement on the same rows (κ) is under Judge agreement.")
    return [text, Table(("Task", "Run", "ASR per judge", "Spread"), tuple(rows), frozenset({3}))]


def _agreement_section(runs: Sequence[Run]) -> Section:
    rows = []
    for run in runs:
        for score_file in run.scores:
            for a in score_file.agreements:
                rows.append((run.name, score_file.label, f"{a.first} vs {a.second}", str(a.n_compared),
                             fixed(a.kappa_labels), fixed(a.kappa_attack_success), pct(a.raw_agreement)))
    if not rows:
        return Section("agreement", "Judge agreement")
    table = Table(("Run", "Scored", "Judges", "n compared", "κ (labels)", "κ (attack success)", "Raw agreement"),
                  tuple(rows), frozenset({3, 4, 5, 6}))
    text = ("Cohen's kappa between two judges on the rows both judged: on their labels, and on the binary "
            f"attack-success decision. {NONE} = undefined (both judges used one and the same label throughout).")
    return Section("agreement", "Judge agreement", [text, table])


def _all_judges(runs: Sequence[Run]) -> dict[Judge, list[str]]:
    used: dict[Judge, list[str]] = defaultdict(list)
    for run in runs:
        judges = [t.judge for t in run.safety] + [j.judge for s in run.scores for j in s.judges if not j.in_task]
        for judge in judges:
            if run.name not in used[judge]:
                used[judge].append(run.name)
    return dict(sorted(used.items(), key=lambda item: (item[0].judge_id, item[0].prompt_hash, item[0].kind)))


def _judges_section(runs: Sequence[Run]) -> Section:
    used = _all_judges(runs)
    if not used:
        return Section("judges", "Judges")
    rows = [(j.judge_id, j.kind or NONE, j.scheme or NONE, j.prompt_hash or NONE, j.source or NONE,
             human_agreement(j.judge_id), ", ".join(r)) for j, r in used.items()]
    table = Table(("Judge", "Kind", "Scheme", "Prompt hash", "Source", "Agreement with human labels", "Used by"),
                  tuple(rows))
    text = ("What judged the numbers above. The prompt hash identifies the judge's exact rule or prompt set: "
            "numbers are comparable only under the same judge and hash. Agreement with human labels: measured "
            "by `vsfa judge-eval` on a public human-labelled set (benchmarks/RESULTS.md); a number from a judge "
            "is only as good as this agreement.")
    return Section("judges", "Judges", [text, table])


def _protocol_key(task: SafetyTask) -> tuple[str, str, str, str]:
    d = task.asr_definition
    sampling = d.get("sampling") if isinstance(d.get("sampling"), dict) else {}
    attempts = f"k={d.get('attempts_per_prompt', NONE)}, {d.get('aggregation', NONE)}"
    decoding = ", ".join(f"{k}={json.dumps(sampling[k])}" for k in _DECODING_KEYS if k in sampling) or NONE
    return attempts, str(d.get("image_condition", NONE)), decoding, task.judge.tag


def _protocol_section(runs: Sequence[Run]) -> Section:
    rows = []
    for name in _tasks_by_name(runs):
        groups: dict[tuple, list[str]] = {}
        for run in runs:
            for task in run.safety:
                if task.task == name:
                    groups.setdefault(_protocol_key(task), []).append(run.name)
        for key, run_names in groups.items():
            rows.append((name, ", ".join(run_names), *key))
    if not rows:
        return Section("protocol", "Evaluation protocol")
    table = Table(("Variant (task)", "Runs", "Attempts", "Image", "Decoding", "Judge"), tuple(rows))
    text = ("How each number was made, from the results' `metadata.vsfa` (one line per distinct protocol: a "
            "task on several lines was run differently across runs).")
    return Section("protocol", "Evaluation protocol", [text, table])


def _cross_run_notes(runs: Sequence[Run]) -> list[str]:
    notes = []
    hashes: dict[str, set[str]] = defaultdict(set)
    for judge in _all_judges(runs):
        hashes[judge.judge_id].add(judge.prompt_hash)
    for judge_id, found in sorted(hashes.items()):
        if len(found) > 1:
            notes.append(f"judge {prose(judge_id)} appears with different prompt hashes "
                         f"({prose(', '.join(sorted(found)))}): "
                         "its numbers are not comparable across those runs")
    for name in _tasks_by_name(runs):
        keys = {_protocol_key(t) for run in runs for t in run.safety if t.task == name}
        if len(keys) > 1:
            notes.append(f"{prose(name)}: runs differ in evaluation protocol (see Evaluation protocol)")
    return notes
