"""Judges against human labels — XSTest v2 refusals and HarmBench multimodal attack success — and
``vsfa_offline``'s speed on one core.

    python benchmarks/judge_agreement.py XSTEST_CHECKOUT [--commit SHA] [--attack-success PATH]
                                         [--write-data] [--export-jsonl PATH] [--export-attack-jsonl PATH]
                                         [--no-attack-success] [--speed-only]
    python benchmarks/judge_agreement.py --attack-success-only [--attack-success PATH] [--write-data]
                                         [--export-jsonl PATH]

Two labelled sets, one per **decision** a judge makes (the ``decision`` field of every record):

* ``refusal`` — XSTEST_CHECKOUT: a clone of github.com/paul-rottger/exaggerated-safety (its 2,250
  human-labelled ``model_completions/xstest_v2_completions_*.csv``). ``vsfa_offline`` is scored
  leave-one-model-out (its weights are fitted on these rows: each model's completions are judged by
  weights fitted on the other four).
* ``attack_success`` — ``--attack-success PATH`` (default ``../shared/judge-data/harmbench_mm_dev.jsonl``
  from the repository root): 108 rows of HarmBench's multimodal classifier validation set (VLM jailbreak
  completions, 3 annotators, majority = label). Converted to judge-eval rows (prompt -> prompt,
  generation -> response, majority of human_0..2 -> human_label yes/no, behavior_id -> group), written
  out and read back by judge-eval's reader, so ``vsfa judge-eval EXPORTED.jsonl`` prints the same
  figures. Also scored: the "always success" majority-class rule and the published judges' labels that
  the file carries (GPT-4, HarmBench's Llama-2-13B and Mistral-7B classifiers, AdvBench's prefix rule),
  shipped as reference rows (``"baselines"``).

Every judge that runs offline is scored (every keyword judge and ``vsfa_offline``), with ``vsfa
judge-eval``'s code. Prints the Markdown tables of ``benchmarks/RESULTS.md`` and one JSON line of figures.
``--write-data`` writes the figures to ``vsfa_plugins/data/judge_agreement.json`` (what
:func:`vsfa_plugins.scoring.judge_eval.measured_agreement` / ``agreement_for`` return): the records of the
set(s) scored are replaced, every other record is kept as it is in the file (``--attack-success-only``:
the XSTest records stay byte-for-byte; ``--no-attack-success``: the attack-success ones do).
``--export-jsonl PATH`` writes the XSTest rows in judge-eval's format (``vsfa judge-eval PATH
--leave-one-out group`` reproduces that table); with ``--attack-success-only`` it writes the
attack-success rows; ``--export-attack-jsonl PATH`` writes the attack-success rows in any mode.

Speed (with XSTest only): ``vsfa_offline`` over the 2,250 XSTest completions (mean 725 characters),
``rounds`` times, pinned to one CPU; the best round counts (target >= 10k responses/s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from keyword_judge import _pin_one_core  # noqa: E402  (one pinning helper for the judge benchmarks)

TARGET_PER_S = 10_000
SET_NAME = "XSTest v2 completions (5 models x 450 prompts, human final_label)"
ATTACK_SET_NAME = ("HarmBench multimodal classifier validation set, dev half (108 VLM jailbreak completions, "
                   "54 behaviours, majority of 3 annotators)")
ATTACK_SOURCE = ("github.com/centerforaisafety/HarmBench data/classifier_val_sets/multimodal_behaviors_val_set.json "
                 "(dev half: shared/judge-data/harmbench_mm_dev.jsonl; other half held out)")
ATTACK_LICENCE = "MIT (HarmBench)"
DEFAULT_ATTACK = os.path.join("..", "shared", "judge-data", "harmbench_mm_dev.jsonl")  # from the repository root
DATA_OUT = os.path.join(REPO, "vsfa_plugins", "data", "judge_agreement.json")
ABOUT = "agreement of judges with human labels; written by benchmarks/judge_agreement.py"

#: what was tuned on the attack-success file, per judge (the default: nothing)
ATTACK_PROTOCOL_DEFAULT = "as shipped (nothing tuned on this set)"
ATTACK_PROTOCOLS = {
    "vsfa_offline": ("dev set, rules tuned on it: the non-answer rules v2 (transcription, caption, request "
                     "restated then nothing) were designed while looking at these rows; weights as shipped "
                     "(fitted on XSTest v2 only)"),
}
#: the published judges' labels the HarmBench file carries, scored as reference rows
PUBLISHED_LABELS = {
    "gpt_label": "GPT-4 (HarmBench's published label)",
    "llama_cls": "HarmBench-Llama-2-13b-cls (HarmBench's published label)",
    "mistral_cls": "HarmBench-Mistral-7b-val-cls (HarmBench's published label)",
    "advbench_label": "AdvBench refusal-prefix rule (HarmBench's published label)",
}


def attack_success_path(path: str | None) -> str:
    """``path``, or the default one resolved from the repository root."""
    return path if path else os.path.normpath(os.path.join(REPO, DEFAULT_ATTACK))


def speed(examples, rounds: int = 5) -> dict:
    from vsfa_plugins.scoring.offline import judge_text, load_model

    load_model()
    pairs = [(e.prompt, e.response) for e in examples]
    pinned = _pin_one_core()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for prompt, response in pairs:
            judge_text(prompt, response)
        best = min(best, time.perf_counter() - start)
    rate = len(pairs) / best
    return {"vsfa_offline_per_s": round(rate), "n": len(pairs), "rounds": rounds, "pinned": pinned,
            "mean_chars": round(sum(len(r) for _, r in pairs) / len(pairs)), "meets_target": rate >= TARGET_PER_S}


def attack_success(path: str, export: str | None = None) -> dict:
    """Every offline judge on the attack-success file, through judge-eval's reader and scorer.

    Returns ``{"result", "records", "baselines", "source", "export_text"}``."""
    from vsfa_plugins.io import dumps_row
    from vsfa_plugins.scoring import judge_eval
    from vsfa_plugins.scoring.verdict import COMPLIANCE, REFUSAL

    rows = judge_eval.read_harmbench_classifier_rows(path)
    text = "".join(dumps_row(r) + "\n" for r in rows)
    with tempfile.TemporaryDirectory() as tmp:  # judge-eval reads the exported text, not our rows
        exported = os.path.join(tmp, "attack_success.jsonl")
        with open(exported, "w", encoding="utf-8") as f:
            f.write(text)
        kind, read = judge_eval.read_labelled(exported, "group")
    if kind != judge_eval.ATTACK_SET:
        raise ValueError(f"{path}: expected attack-success labels, read {kind}")
    result = judge_eval.evaluate(kind, read, judge_eval.default_judges())
    for judge_id, entry in result["judges"].items():
        entry["protocol"] = ATTACK_PROTOCOLS.get(judge_id, ATTACK_PROTOCOL_DEFAULT)
    records = judge_eval.agreement_records(result, ATTACK_SET_NAME, ATTACK_SOURCE)
    humans = [r["human"] for r in read]
    baselines = [judge_eval.baseline_record("always_success", kind, humans, [COMPLIANCE] * len(humans),
                                            ATTACK_SET_NAME, ATTACK_SOURCE,
                                            "majority class of this set: every completion called a success")]
    with open(path, encoding="utf-8") as f:
        raw = [json.loads(line) for line in f if line.strip()]
    for field, name in PUBLISHED_LABELS.items():
        if all(r.get(field) in (0, 1) for r in raw):
            labels = [COMPLIANCE if r[field] == 1 else REFUSAL for r in raw]
            baselines.append(judge_eval.baseline_record(field, kind, humans, labels, ATTACK_SET_NAME, ATTACK_SOURCE,
                                                        f"{name}: the file's {field} column, not run here"))
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    source = {"source": ATTACK_SOURCE, "sha256": {os.path.basename(path): sha}, "licence": ATTACK_LICENCE,
              "label": "human_label = yes when at least 2 of human_0..2 are 1", "rows": len(rows),
              "behaviours": len({r["group"] for r in rows})}
    if export:
        from vsfa_plugins.io import atomic_write_text

        print(f"wrote {atomic_write_text(export, text)}")
    return {"result": result, "records": records, "baselines": baselines, "source": source}


def baseline_table(baselines: list[dict]) -> str:
    from vsfa_plugins.scoring.judge_eval import _ci, _kappa, _pct, _rate

    lines = ["| reference | attack success (κ) | 95 % CI (Wilson) | sensitivity | specificity | protocol |",
             "|---|---|---|---|---|---|"]
    for b in baselines:
        lines.append(f"| `{b['baseline']}` | {_pct(b['agreement'])} ({_kappa(b['kappa'])}) | {_ci(b['agreement_ci95'])} "
                     f"| {_rate(b['sensitivity'], b['sensitivity_hits'], b['sensitivity_n'])} "
                     f"| {_rate(b['specificity'], b['specificity_hits'], b['specificity_n'])} | {b['protocol']} |")
    return "\n".join(lines)


def merge(existing: dict, refusal: dict | None, attack: dict | None, refusal_source: dict | None) -> dict:
    """The agreement file with the scored sets' records replaced and every other record kept as is."""
    from vsfa_plugins.scoring.judge_eval import ATTACK_SET, REFUSAL_SET, record_decision

    old_judges = existing.get("judges", {})
    judges: dict[str, list] = {}
    for judge_id in sorted(set(old_judges) | set(refusal or {}) | set((attack or {}).get("records", {}))):
        old = old_judges.get(judge_id, [])
        kept_refusal = [r if "decision" in r else {**r, "decision": REFUSAL_SET}  # files before the field
                        for r in old if record_decision(r) == REFUSAL_SET]
        kept_attack = [r for r in old if record_decision(r) == ATTACK_SET]
        new_refusal = refusal.get(judge_id, []) if refusal is not None else kept_refusal
        new_attack = attack["records"].get(judge_id, []) if attack is not None else kept_attack
        judges[judge_id] = new_refusal + new_attack  # refusal first: the report's headline reads records[0]
    sources = dict(existing.get("sources", {}))
    if refusal_source is not None:
        sources[SET_NAME] = refusal_source
    baselines = dict(existing.get("baselines", {}))
    if attack is not None:
        sources[ATTACK_SET_NAME] = attack["source"]
        baselines[ATTACK_SET] = attack["baselines"]
    out = {"about": existing.get("about", ABOUT), "judges": judges, "sources": sources}
    if baselines:
        out["baselines"] = baselines
    return out


def main(argv: list[str] | None = None) -> int:
    from vsfa_plugins.io import atomic_write_text, dumps_document, dumps_row
    from vsfa_plugins.scoring import judge_eval, offline_fit

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkout", nargs="?", help="XSTest checkout (not needed with --attack-success-only)")
    p.add_argument("--commit", help="the checkout's commit, when it has no git metadata")
    p.add_argument("--attack-success", metavar="PATH",
                   help=f"HarmBench classifier-validation JSONL (default: {DEFAULT_ATTACK} from the repository root)")
    p.add_argument("--attack-success-only", action="store_true",
                   help="score the attack-success file only; the XSTest records in the data file are kept as they are")
    p.add_argument("--no-attack-success", action="store_true",
                   help="score XSTest only; the attack-success records in the data file are kept as they are")
    p.add_argument("--write-data", action="store_true", help=f"write {DATA_OUT}")
    p.add_argument("--export-jsonl", metavar="PATH",
                   help="the XSTest rows in judge-eval's format (with --attack-success-only: the attack-success rows)")
    p.add_argument("--export-attack-jsonl", metavar="PATH", help="the attack-success rows in judge-eval's format")
    p.add_argument("--speed-only", action="store_true")
    args = p.parse_args(argv)
    if args.attack_success_only and (args.checkout or args.no_attack_success or args.speed_only):
        p.error("--attack-success-only takes no XSTest checkout, --no-attack-success or --speed-only")
    if not args.attack_success_only and not args.checkout:
        p.error("an XSTest checkout is needed (or --attack-success-only)")
    score_attack = not args.no_attack_success and not args.speed_only
    attack_path = attack_success_path(args.attack_success)
    if score_attack and not os.path.isfile(attack_path):
        print(f"error: {attack_path}: no such file. It is the human-labelled attack-success set (HarmBench's "
              f"multimodal classifier validation rows; see shared/judge-data/README.md next to the repository). "
              f"Pass --attack-success PATH, or --no-attack-success to score XSTest only (the shipped attack-success "
              f"records are then kept).", file=sys.stderr)
        return 1

    figures: dict = {}
    refusal_records = refusal_source = None
    if not args.attack_success_only:
        examples, hashes = offline_fit.read_xstest_v2(args.checkout)
        figures["speed"] = speed(examples)
        if not args.speed_only:
            commit = args.commit or subprocess.run(["git", "-C", args.checkout, "rev-parse", "HEAD"],
                                                   capture_output=True, text=True).stdout.strip()
            rows = [{"line": i + 1, "id": e.id, "group": e.group, "prompt": e.prompt, "response": e.response,
                     "human": e.human_label, "meta": {}} for i, e in enumerate(examples)]
            result = judge_eval.evaluate("refusal", rows, judge_eval.default_judges(), leave_one_out=True)
            print(judge_eval.markdown_table(result, SET_NAME))
            source = f"github.com/paul-rottger/exaggerated-safety@{commit or 'unknown'}"
            refusal_records = judge_eval.agreement_records(result, SET_NAME, source)
            refusal_source = {"source": source, "sha256": hashes, "licence": "CC-BY-4.0"}
            figures["agreement"] = {j: {r["metric"]: r["agreement"] for r in recs} for j, recs in refusal_records.items()}
            if args.export_jsonl:
                text = "".join(dumps_row(r) + "\n" for r in judge_eval.iter_rows_for_export(examples))
                print(f"wrote {atomic_write_text(args.export_jsonl, text)}")

    attack = None
    if score_attack:
        export = args.export_attack_jsonl or (args.export_jsonl if args.attack_success_only else None)
        try:
            attack = attack_success(attack_path, export)
        except (judge_eval.LabelledFileError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print()
        print(judge_eval.markdown_table(attack["result"], ATTACK_SET_NAME))
        print()
        print(baseline_table(attack["baselines"]))
        for judge_id, recs in attack["records"].items():
            figures.setdefault("agreement", {}).setdefault(judge_id, {}).update(
                {r["metric"]: r["agreement"] for r in recs})

    if args.write_data and (refusal_records is not None or attack is not None):
        existing = {}
        if os.path.exists(DATA_OUT):
            with open(DATA_OUT, encoding="utf-8") as f:
                existing = json.load(f)
        data = merge(existing, refusal_records, attack, refusal_source)
        print(f"wrote {atomic_write_text(DATA_OUT, dumps_document(data))}")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
