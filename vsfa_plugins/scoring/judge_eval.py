"""Judge accuracy against human labels: ``vsfa judge-eval`` and :func:`measured_agreement`.

    vsfa judge-eval LABELLED.jsonl [--judge ID ...] [--leave-one-out FIELD] [--output OUT.json] [--markdown]

Input: JSONL rows ``{"prompt", "response", "human_label"}`` (optional ``id``, ``group`` or any field named by
``--leave-one-out``, and ``meta``: a dict handed to the judge, e.g. ``{"context": <image description>}``).
``human_label`` is either a refusal class — ``full_compliance`` / ``full_refusal`` / ``partial_refusal``
(XSTest's ``1_full_compliance`` ... spellings too) — or an attack-success decision — ``true``/``false``,
``1``/``0``, ``"yes"``/``"no"`` (HarmBench's "is this an instance of the behaviour"). One kind per file.

Per judge (default: every keyword judge and ``vsfa_offline``) it reports, against the human labels:

* refusal files: ``refusal_yes_no`` (refused = full or partial refusal) and ``three_class`` agreement
  and Cohen's kappa, and the confusion matrix (human label x judge label);
* attack-success files: ``attack_success`` agreement (with its 95 % Wilson interval) and kappa (the
  judge's ``attack_success``), sensitivity (judge says success among the human-success rows) and
  specificity (judge says not-success among the human-not-success rows) with their counts, and the
  confusion matrix (human yes/no x judge label).

A judge error counts as a disagreement (and is counted in ``judge_errors``); a ``non_answer`` is neither a
refusal nor a success. ``--leave-one-out FIELD`` re-fits ``vsfa_offline`` once per value of ``FIELD``
on the other rows and judges the held-out ones with it (refusal files only): the honest figure when the
file is, or overlaps, what the shipped weights were fitted on (XSTest v2).

:func:`measured_agreement` returns the figures shipped in ``vsfa_plugins/data/judge_agreement.json``
(written by ``benchmarks/judge_agreement.py --write-data``), for reports to show next to an ASR;
:func:`agreement_for` the one record that describes a judge's quality for one **decision**: ``refusal``
(did the model refuse? XSTest refusal detection) or ``attack_success`` (is the completion an instance of
the harmful behaviour? HarmBench's human labels) — a refusal figure says little about an ASR judge.
:func:`measured_baselines` the reference rows shipped with them (e.g. "always success").
:func:`read_harmbench_classifier_rows` turns HarmBench's classifier validation rows (``behavior_id``,
``prompt``, ``generation``, ``human_0..2``) into this command's input rows.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections import Counter
from importlib import resources
from typing import Any, Iterable, Mapping, Sequence

from .metrics import cohen_kappa
from .verdict import COMPLIANCE, JUDGE_ERROR, NON_ANSWER, PARTIAL, REFUSAL, Verdict

AGREEMENT_FILE = "judge_agreement.json"
REFUSAL_SET = "refusal"
ATTACK_SET = "attack_success"
DECISIONS = (REFUSAL_SET, ATTACK_SET)  # what a record's figure is about: its "decision" field
#: the record :func:`agreement_for` returns per decision: the binary decision, not the 3-class one
HEADLINE_METRIC = {REFUSAL_SET: "refusal_yes_no", ATTACK_SET: "attack_success"}
_REFUSAL_LABELS = {
    COMPLIANCE: COMPLIANCE, REFUSAL: REFUSAL, PARTIAL: PARTIAL,
    "1_full_compliance": COMPLIANCE, "2_full_refusal": REFUSAL, "3_partial_refusal": PARTIAL,
}
_YES = {True, 1, "1", "yes", "true", "success"}
_NO = {False, 0, "0", "no", "false", "failure"}
JUDGE_LABELS = (COMPLIANCE, REFUSAL, PARTIAL, NON_ANSWER, JUDGE_ERROR)


class LabelledFileError(ValueError):
    """A labelled file that cannot be evaluated; the message names file and line."""


def default_judges() -> list[str]:
    from .keyword import KEYWORD_JUDGES

    return [*KEYWORD_JUDGES, "vsfa_offline"]


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------


def read_labelled(path: str, group_field: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """``(kind, rows)``: kind is ``refusal`` or ``attack_success``; each row has ``prompt``, ``response``,
    ``human`` (a refusal class, or True/False), ``meta``, ``line`` and ``group`` (when asked for)."""
    rows: list[dict[str, Any]] = []
    kinds: dict[str, int] = {}
    try:
        handle = open(path, encoding="utf-8")
    except OSError as err:
        raise LabelledFileError(f"{path}: cannot read: {err.strerror or err}") from None
    with handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                rows.append(_row(path, line_no, line, group_field, kinds))
        except UnicodeDecodeError as err:
            raise LabelledFileError(f"{path}: not UTF-8 text ({err.reason})") from None
    if not rows:
        raise LabelledFileError(f"{path}: no labelled rows")
    if len(kinds) > 1:
        first = {kind: line for kind, line in kinds.items()}
        raise LabelledFileError(f"{path}: mixes refusal classes (line {first.get(REFUSAL_SET)}) and attack-success "
                                f"labels (line {first.get(ATTACK_SET)}); use one kind per file")
    return next(iter(kinds)), rows


def _row(path: str, line_no: int, line: str, group_field: str | None, kinds: dict[str, int]) -> dict[str, Any]:
    where = f"{path}:{line_no}"
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as err:
        raise LabelledFileError(f"{where}: not JSON ({str(err)[:80]})") from None
    if not isinstance(data, dict):
        raise LabelledFileError(f"{where}: a row is a JSON object, got {type(data).__name__}")
    for key in ("prompt", "response"):
        if not isinstance(data.get(key), str):
            raise LabelledFileError(f"{where}: {key!r} must be a string")
    if "human_label" not in data:
        raise LabelledFileError(f"{where}: no 'human_label'")
    label = data["human_label"]
    normalised = label.strip().lower() if isinstance(label, str) else label
    if isinstance(normalised, str) and normalised in _REFUSAL_LABELS:
        kind, human = REFUSAL_SET, _REFUSAL_LABELS[normalised]
    elif not isinstance(normalised, (dict, list, float)) and normalised in _YES:
        kind, human = ATTACK_SET, True
    elif not isinstance(normalised, (dict, list, float)) and normalised in _NO:
        kind, human = ATTACK_SET, False
    else:
        raise LabelledFileError(f"{where}: human_label {label!r} is neither a refusal class "
                                f"({', '.join(sorted(_REFUSAL_LABELS))}) nor yes/no")
    kinds.setdefault(kind, line_no)
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise LabelledFileError(f"{where}: 'meta' must be an object")
    row = {"line": line_no, "id": data.get("id", line_no), "prompt": data["prompt"], "response": data["response"],
           "human": human, "meta": meta}
    if group_field:
        if not isinstance(data.get(group_field), (str, int)) or isinstance(data.get(group_field), bool):
            raise LabelledFileError(f"{where}: --leave-one-out {group_field!r}: the row has no such string field")
        row["group"] = str(data[group_field])
    return row


# --------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------


def agreement_metrics(kind: str, humans: Sequence[Any], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Agreement, kappa and confusion matrix of one judge's verdicts with the human labels."""
    if len(humans) != len(verdicts):
        raise ValueError(f"{len(humans)} human labels but {len(verdicts)} verdicts")
    n = len(humans)
    labels = [v.label for v in verdicts]
    confusion: dict[str, dict[str, int]] = {}
    for human, label in zip(humans, labels):
        key = human if isinstance(human, str) else ("yes" if human else "no")
        confusion.setdefault(key, {}).setdefault(label, 0)
        confusion[key][label] += 1
    out: dict[str, Any] = {"n": n, "judge_errors": labels.count(JUDGE_ERROR),
                           "non_answers": labels.count(NON_ANSWER),
                           "confusion": {h: dict(sorted(c.items())) for h, c in sorted(confusion.items())}}
    if kind == REFUSAL_SET:
        human_refused = [h != COMPLIANCE for h in humans]
        judge_refused = [None if v.is_error else bool(v.refused) for v in verdicts]  # an error never agrees
        out["refusal_yes_no"] = _pair(human_refused, judge_refused)
        out["three_class"] = _pair(list(humans), labels)
    else:
        judged = [None if v.is_error else bool(v.attack_success) for v in verdicts]
        out["attack_success"] = {**_pair(list(humans), judged), **_decision_counts(list(humans), judged)}
        out["human_success_rate"] = sum(humans) / n if n else None
    return out


def proportion_ci(successes: int, n: int) -> tuple[float, float] | None:
    """95 % Wilson interval of ``successes`` / ``n`` (None for n = 0): :mod:`.stats`'s when it is there,
    else scipy's ``binomtest(k, n).proportion_ci(method="wilson")`` (the same numbers)."""
    if n == 0:
        return None
    try:
        from .stats import proportion_ci as stats_ci
    except ImportError:
        stats_ci = None
    if stats_ci is not None:
        return stats_ci(successes, n, method="wilson")
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(method="wilson")
    return float(ci.low), float(ci.high)


def _decision_counts(human: Sequence[bool], judge: Sequence[bool | None]) -> dict[str, Any]:
    """Hits, the agreement's Wilson interval, sensitivity and specificity (a judge error is never a hit)."""
    hits = sum(h == j for h, j in zip(human, judge))
    se_n = sum(1 for h in human if h)
    sp_n = len(human) - se_n
    se_hits = sum(1 for h, j in zip(human, judge) if h and j is True)
    sp_hits = sum(1 for h, j in zip(human, judge) if not h and j is False)
    ci = proportion_ci(hits, len(human))
    return {"hits": hits, "ci95": None if ci is None else [round(ci[0], 6), round(ci[1], 6)],
            "sensitivity": round(se_hits / se_n, 6) if se_n else None, "sensitivity_hits": se_hits,
            "sensitivity_n": se_n, "specificity": round(sp_hits / sp_n, 6) if sp_n else None,
            "specificity_hits": sp_hits, "specificity_n": sp_n}


def _pair(human: Sequence[Any], judge: Sequence[Any]) -> dict[str, Any]:
    n = len(human)
    agree = sum(h == j for h, j in zip(human, judge))
    kappa = cohen_kappa(list(human), list(judge))
    return {"agreement": agree / n if n else None, "kappa": None if kappa is None else round(kappa, 6)}


def evaluate(
    kind: str,
    rows: Sequence[Mapping[str, Any]],
    judges: Sequence[str],
    *,
    leave_one_out: bool = False,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Every judge's agreement with the humans on ``rows`` (as read by :func:`read_labelled`)."""
    from .batch import judge_many
    from .verdict import get_judge_info

    humans = [r["human"] for r in rows]
    results: dict[str, Any] = {}
    for judge_id in judges:
        info = get_judge_info(judge_id)
        if judge_id == "vsfa_offline" and leave_one_out:
            verdicts, protocol = _offline_leave_one_out(kind, rows), "leave-one-group-out (re-fitted per held-out group)"
        else:
            verdicts = judge_many(judge_id, [(r["prompt"], r["response"], r["meta"]) for r in rows],
                                  cache_dir=cache_dir, progress=False)
            protocol = "as shipped"
        results[judge_id] = {**info.to_dict(), "protocol": protocol, **agreement_metrics(kind, humans, verdicts)}
    return {"kind": kind, "n": len(rows), "human_labels": dict(sorted(Counter(map(str, humans)).items())),
            "judges": results}


def _offline_leave_one_out(kind: str, rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    from . import offline, offline_fit

    if kind != REFUSAL_SET:
        raise ValueError("--leave-one-out re-fits vsfa_offline on refusal classes; this file has attack-success labels")
    examples = [offline_fit.Example(str(r["id"]), r["group"], r["prompt"], r["response"], r["human"]) for r in rows]
    groups = sorted({e.group for e in examples})
    if len(groups) < 2:
        raise ValueError("--leave-one-out needs at least two groups")
    folds = offline_fit.leave_one_group_out(examples, min_groups=min(offline_fit.MIN_GROUPS, len(groups) - 1))
    return [offline.judge_text(r["prompt"], r["response"], folds[r["group"]]) for r in rows]


# --------------------------------------------------------------------------------------------------
# presentation
# --------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _kappa(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "-" if not ci else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"


def _rate(value: float | None, hits: int, n: int) -> str:
    return f"{_pct(value)} ({hits}/{n})"


def markdown_table(result: Mapping[str, Any], title: str = "") -> str:
    """One row per judge: agreement (kappa) per metric, judge errors, non-answers, protocol; for
    attack-success files also the agreement's 95 % Wilson interval, sensitivity and specificity."""
    attack = result["kind"] != REFUSAL_SET
    metrics = ("attack_success",) if attack else ("refusal_yes_no", "three_class")
    names = {"refusal_yes_no": "refusal yes/no", "three_class": "3 classes", "attack_success": "attack success"}
    extra = " 95 % CI (Wilson) | sensitivity | specificity |" if attack else ""
    head = ("| judge | kind | " + " | ".join(f"{names[m]} (κ)" for m in metrics) + " |" + extra
            + " errors | non-answers | protocol |")
    lines = ([f"**{title}** (n = {result['n']})", ""] if title else []) + [
        head, "|" + "---|" * (len(metrics) + 5 + (3 if attack else 0))]
    for judge_id, entry in result["judges"].items():
        cells = [f"{_pct(entry[m]['agreement'])} ({_kappa(entry[m]['kappa'])})" for m in metrics]
        if attack:
            a = entry["attack_success"]
            cells += [_ci(a["ci95"]), _rate(a["sensitivity"], a["sensitivity_hits"], a["sensitivity_n"]),
                      _rate(a["specificity"], a["specificity_hits"], a["specificity_n"])]
        lines.append(f"| `{judge_id}` | {entry['judge_kind']} | " + " | ".join(cells)
                     + f" | {entry['judge_errors']} | {entry['non_answers']} | {entry['protocol']} |")
    return "\n".join(lines)


def text_table(result: Mapping[str, Any]) -> str:
    return markdown_table(result).replace("`", "")


# --------------------------------------------------------------------------------------------------
# shipped figures
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    try:
        raw = resources.files("vsfa_plugins.data").joinpath(AGREEMENT_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def measured_agreement(judge_id: str) -> list[dict[str, Any]] | None:
    """The judge's measured agreement with human labels, or None when it was never measured.

    Every record, refusal ones first (the order the report's headline relies on). One dict per
    (labelled set, metric): ``decision`` (``refusal``: XSTest refusal detection; ``attack_success``: is
    the completion an instance of the behaviour), ``set`` (name), ``source`` (repository @ commit), ``n``,
    ``metric`` (``refusal_yes_no`` / ``three_class`` / ``attack_success``), ``agreement`` (0-1),
    ``kappa``, ``protocol`` (``as shipped``, ``leave-one-group-out ...``, or what was tuned on the set).
    ``attack_success`` records also carry ``agreement_hits``, ``agreement_ci95`` ([low, high], Wilson),
    ``sensitivity`` / ``sensitivity_hits`` / ``sensitivity_n``, ``specificity`` / ``specificity_hits`` /
    ``specificity_n``, ``human_success_rate``, ``judge_errors`` and ``non_answers``. Written by
    ``benchmarks/judge_agreement.py --write-data``; use :func:`agreement_for` for one decision's figure.
    """
    entries = _shipped().get("judges", {}).get(judge_id)
    return [dict(e) for e in entries] if entries else None


def record_decision(record: Mapping[str, Any]) -> str:
    """A record's decision kind (its ``decision`` field; for a record written before that field existed,
    read off its metric)."""
    decision = record.get("decision")
    if decision:
        return str(decision)
    return ATTACK_SET if record.get("metric") == "attack_success" else REFUSAL_SET


def agreement_for(judge_id: str, decision: str) -> dict[str, Any] | None:
    """The record that best documents ``judge_id``'s agreement with humans on one decision, or None.

    ``decision``: ``"refusal"`` (returns the ``refusal_yes_no`` record, not the 3-class one) or
    ``"attack_success"`` (the ``attack_success`` record). When several labelled sets were scored, the one
    with the most rows (the first of equals). A ``ValueError`` for any other decision."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; expected one of {', '.join(DECISIONS)}")
    records = [r for r in measured_agreement(judge_id) or () if record_decision(r) == decision
               and r.get("metric") == HEADLINE_METRIC[decision]]
    best = None
    for record in records:
        if best is None or (record.get("n") or 0) > (best.get("n") or 0):
            best = record
    return best


def measured_baselines(decision: str | None = None) -> list[dict[str, Any]]:
    """The shipped reference rows (``"baselines"`` of the agreement file: e.g. the always-success
    majority-class rule, and published judges' labels shipped with a labelled set), optionally of one
    decision kind; each has ``baseline`` (its name) and the fields of an agreement record."""
    rows = [dict(r) for rows in _shipped().get("baselines", {}).values() for r in rows]
    return [r for r in rows if decision is None or record_decision(r) == decision]


def agreement_records(result: Mapping[str, Any], set_name: str, source: str) -> dict[str, list[dict[str, Any]]]:
    """:func:`evaluate`'s result as the per-judge records :func:`measured_agreement` returns."""
    attack = result["kind"] != REFUSAL_SET
    metrics = ("attack_success",) if attack else ("refusal_yes_no", "three_class")
    out: dict[str, list[dict[str, Any]]] = {}
    for judge_id, entry in result["judges"].items():
        out[judge_id] = [_record(entry, m, set_name, source, result["kind"]) for m in metrics]
    return out


def _record(entry: Mapping[str, Any], metric: str, set_name: str, source: str, kind: str) -> dict[str, Any]:
    figures = entry[metric]
    record = {"decision": kind, "set": set_name, "source": source, "n": entry["n"], "metric": metric,
              "agreement": round(figures["agreement"], 6), "kappa": figures["kappa"], "protocol": entry["protocol"]}
    if kind == ATTACK_SET:
        record.update({
            "agreement_hits": figures["hits"], "agreement_ci95": figures["ci95"],
            **{k: figures[k] for k in ("sensitivity", "sensitivity_hits", "sensitivity_n", "specificity",
                                       "specificity_hits", "specificity_n")},
            "human_success_rate": round(entry["human_success_rate"], 6),
            "judge_errors": entry["judge_errors"], "non_answers": entry["non_answers"],
        })
    return record


def baseline_record(name: str, kind: str, humans: Sequence[Any], labels: Sequence[str], set_name: str,
                    source: str, protocol: str) -> dict[str, Any]:
    """A reference row scored like a judge: ``labels`` (verdict labels, one per row) against ``humans``."""
    verdicts = [Verdict(label, name, name) for label in labels]
    entry = {"n": len(humans), "protocol": protocol, **agreement_metrics(kind, list(humans), verdicts)}
    metric = HEADLINE_METRIC[kind]
    return {"baseline": name, **_record(entry, metric, set_name, source, kind)}


# --------------------------------------------------------------------------------------------------
# HarmBench's classifier validation rows
# --------------------------------------------------------------------------------------------------

HUMAN_FIELDS = ("human_0", "human_1", "human_2")


def read_harmbench_classifier_rows(path: str) -> list[dict[str, Any]]:
    """HarmBench classifier-validation rows (JSONL: ``behavior_id``, ``prompt``, ``generation``,
    ``human_0..2`` = 0/1, optional ``image_path``) as judge-eval rows, in file order: ``id`` (the line
    number), ``group`` (``behavior_id``), ``prompt``, ``response`` (``generation``), ``human_label``
    (``yes`` when at least 2 of the 3 annotators say 1), ``humans`` (the three votes) and ``image_path``
    (when given; neither is read by judges). A row that does not fit is a :class:`LabelledFileError`."""
    out = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as err:
        raise LabelledFileError(f"{path}: cannot read: {err.strerror or err}") from None
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                data = json.loads(line)
            except ValueError as err:
                raise LabelledFileError(f"{where}: not JSON ({str(err)[:80]})") from None
            if not isinstance(data, dict):
                raise LabelledFileError(f"{where}: a row is a JSON object")
            for key in ("behavior_id", "prompt", "generation"):
                if not isinstance(data.get(key), str):
                    raise LabelledFileError(f"{where}: {key!r} must be a string")
            votes = [data.get(k) for k in HUMAN_FIELDS]
            if any(v not in (0, 1) or isinstance(v, bool) for v in votes):
                raise LabelledFileError(f"{where}: {', '.join(HUMAN_FIELDS)} must each be 0 or 1, got {votes}")
            row = {"id": line_no, "group": data["behavior_id"], "prompt": data["prompt"],
                   "response": data["generation"], "human_label": "yes" if sum(votes) >= 2 else "no",
                   "humans": votes}
            if isinstance(data.get("image_path"), str):
                row["image_path"] = data["image_path"]
            out.append(row)
    if not out:
        raise LabelledFileError(f"{path}: no rows")
    return out


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "judge-eval",
        help="measure judges against human labels (agreement, Cohen's kappa, confusion matrix)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("input", help="JSONL of {prompt, response, human_label[, id, group, meta]}")
    p.add_argument("--judge", action="append", metavar="ID",
                   help="judge id, repeatable (default: every keyword judge and vsfa_offline)")
    p.add_argument("--leave-one-out", metavar="FIELD",
                   help="re-fit vsfa_offline per value of FIELD and judge each held-out group with it")
    p.add_argument("--output", help="write the full result (with confusion matrices) as JSON")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--cache-dir", default=None, help="LLM judge cache (as vsfa score)")
    p.set_defaults(func=run_judge_eval)


def run_judge_eval(args: argparse.Namespace) -> int:
    try:
        from .verdict import get_judge_info

        judges = list(dict.fromkeys(args.judge or default_judges()))
        for judge_id in judges:
            try:
                get_judge_info(judge_id)
            except KeyError as err:
                raise LabelledFileError(err.args[0]) from None
        kind, rows = read_labelled(args.input, args.leave_one_out)
        result = evaluate(kind, rows, judges, leave_one_out=bool(args.leave_one_out), cache_dir=args.cache_dir)
        result = {"input": os.path.abspath(args.input), **result}
        if args.output:
            from ..io import atomic_write_text, check_output_path, dumps_document

            check_output_path(args.output, [args.input])
            atomic_write_text(args.output, dumps_document(result))
    except (LabelledFileError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(markdown_table(result) if args.markdown else text_table(result))
    if args.output:
        print(f"wrote {args.output}")
    return 0


def iter_rows_for_export(examples: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """Rows of the judge-eval format from :class:`.offline_fit.Example` objects (for exporting XSTest)."""
    for e in examples:
        yield {"id": e.id, "group": e.group, "prompt": e.prompt, "response": e.response, "human_label": e.human_label}
