"""Judges against human labels on XSTest v2, and ``vsfa_offline``'s speed on one core.

    python benchmarks/judge_agreement.py XSTEST_CHECKOUT [--commit SHA] [--write-data] [--export-jsonl PATH]
                                                         [--speed-only]

XSTEST_CHECKOUT: a clone of github.com/paul-rottger/exaggerated-safety (its 2,250 human-labelled
``model_completions/xstest_v2_completions_*.csv``). Every keyword judge and ``vsfa_offline`` are scored
with ``vsfa judge-eval``'s code; ``vsfa_offline`` leave-one-model-out (its weights are fitted on these
rows: each model's completions are judged by weights fitted on the other four). Prints the Markdown
table of ``benchmarks/RESULTS.md`` and one JSON line of figures. ``--write-data`` writes the figures to
``vsfa_plugins/data/judge_agreement.json`` (what :func:`vsfa_plugins.scoring.judge_eval.measured_agreement`
returns); ``--export-jsonl`` writes the rows in judge-eval's format, so
``vsfa judge-eval PATH --leave-one-out group`` reproduces the table.

Speed: ``vsfa_offline`` over the 2,250 XSTest completions (mean 725 characters), ``rounds`` times, pinned
to one CPU; the best round counts (target >= 10k responses/s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from keyword_judge import _pin_one_core  # noqa: E402  (one pinning helper for the judge benchmarks)

TARGET_PER_S = 10_000
SET_NAME = "XSTest v2 completions (5 models x 450 prompts, human final_label)"
DATA_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vsfa_plugins", "data",
                        "judge_agreement.json")


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


def main(argv: list[str] | None = None) -> int:
    from vsfa_plugins.io import atomic_write_text, dumps_document, dumps_row
    from vsfa_plugins.scoring import judge_eval, offline_fit

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkout")
    p.add_argument("--commit", help="the checkout's commit, when it has no git metadata")
    p.add_argument("--write-data", action="store_true", help=f"write {DATA_OUT}")
    p.add_argument("--export-jsonl", metavar="PATH")
    p.add_argument("--speed-only", action="store_true")
    args = p.parse_args(argv)
    examples, hashes = offline_fit.read_xstest_v2(args.checkout)
    figures: dict = {"speed": speed(examples)}
    if not args.speed_only:
        commit = args.commit or subprocess.run(["git", "-C", args.checkout, "rev-parse", "HEAD"], capture_output=True,
                                               text=True).stdout.strip()
        rows = [{"line": i + 1, "id": e.id, "group": e.group, "prompt": e.prompt, "response": e.response,
                 "human": e.human_label, "meta": {}} for i, e in enumerate(examples)]
        result = judge_eval.evaluate("refusal", rows, judge_eval.default_judges(), leave_one_out=True)
        print(judge_eval.markdown_table(result, SET_NAME))
        source = f"github.com/paul-rottger/exaggerated-safety@{commit or 'unknown'}"
        records = judge_eval.agreement_records(result, SET_NAME, source)
        figures["agreement"] = {j: {r["metric"]: r["agreement"] for r in recs} for j, recs in records.items()}
        if args.write_data:
            data = {"about": "agreement of judges with human labels; written by benchmarks/judge_agreement.py",
                    "sources": {SET_NAME: {"source": source, "sha256": hashes, "licence": "CC-BY-4.0"}},
                    "judges": records}
            print(f"wrote {atomic_write_text(DATA_OUT, dumps_document(data))}")
        if args.export_jsonl:
            text = "".join(dumps_row(r) + "\n" for r in judge_eval.iter_rows_for_export(examples))
            print(f"wrote {atomic_write_text(args.export_jsonl, text)}")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
