"""``vsfa report``: the subcommand. Thin: parse, call :func:`vsfa_plugins.report.make_report`, print."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Compare evaluation runs: reads each RUN_DIR (an lmms-eval --output_path folder: <date>_results.json and,
with --log_samples, <date>_samples_<task>.jsonl, searched recursively; the newest results per task are
used) and the `vsfa score` outputs found there, and writes report.html (self-contained, plots embedded),
report.md and the PNG plots into --out. Shows ASR per benchmark x variant x category, over-refusal, the
constructive score (CS) when an LLM judge ran, capability metrics of stock lmms-eval tasks, the judges
(id, prompt hash), their agreement with humans on the decision each rate asks (attack success next to an
ASR, refusal next to over-refusal) and with each other (Cohen's kappa), and a safety vs over-refusal plot of
the runs; every rate with its 95% interval. With two or more runs: paired comparisons against the first."""


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="compare evaluation runs (lmms-eval results + vsfa score outputs) in an HTML/Markdown report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="an lmms-eval --output_path folder (one per run)")
    p.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="display name of a run, repeatable: the first --name labels the first RUN_DIR, and so on "
        "(default: the directory's name)",
    )
    p.add_argument("--out-dir", "--out", dest="out", metavar="DIR",
                   help="where to write the report (default: the first RUN_DIR)")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from ..io import OutputError
    from . import ReportInputError, make_report

    try:
        files = make_report(args.runs, args.name, args.out)
    except (ReportInputError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the report folder cannot be written: read-only, full disk
        print(f"error: {err.filename or args.out}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(files.summary)
    for note in files.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {files.html}, {files.markdown} and {len(files.figures)} PNG plot(s)")
    return 0
