"""``vsfa`` command line. Thin: parse arguments, call one function per subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: modules with an ``add_commands(subparsers)`` function; kept cheap to import (heavy imports go inside
#: the command functions) so ``vsfa --help`` stays fast
COMMAND_MODULES: list[str] = [
    "vsfa_plugins.builders.cli",  # build-rejection-mix, build-vlguard, contamination
    "vsfa_plugins.builders.vsfa.cli",  # build-vsfa
    "vsfa_plugins.builders.typographic",  # render-typographic
    "vsfa_plugins.scoring.cli",  # score
    "vsfa_plugins.scoring.compare",  # compare
    "vsfa_plugins.scoring.judge_eval",  # judge-eval
    "vsfa_plugins.report.cli",  # report
    "vsfa_plugins.demo",  # demo
    "vsfa_plugins.configs",  # configs list / configs export
    "vsfa_plugins.benchmarks.cli",  # data list / data sample
]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``vsfa`` command line (every feature module adds its subcommands)."""
    parser = argparse.ArgumentParser(
        prog="vsfa", description="Label-light safety alignment of VLMs: VSFA and rejection-mix plugins."
    )
    parser.add_argument("--version", action="version", version=f"vsfa-plugins {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("doctor", help="print versions and whether the plugins are registered (non-zero if not)")
    p.add_argument("--model", help="preflight instead: send one request per input kind (image, text-only, "
                   "typographic, ...) through this lmms-eval --model class and say what works")
    p.add_argument("--model-args", default="", help="the lmms-eval --model_args for --model")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("validate", help="validate a dataset file in the vsfa / rejection_mix format")
    p.add_argument("path", help="dataset file (.json array or .jsonl)")
    p.add_argument("--format", required=True, choices=["vsfa", "rejection_mix"])
    p.add_argument("--media-dir", action="append", default=None, help="extra folder image paths resolve against")
    p.add_argument("--allow-path-escape", action="store_true",
                   help="allow image paths leading out of the dataset folders ('..' or a symlink; also "
                        "VSFA_ALLOW_PATH_ESCAPE=1)")
    p.add_argument("--check-images", choices=["none", "exists", "header", "decode"], default="header",
                   help="image check, as the builders do (default header: parses, within VSFA_MAX_IMAGE_PIXELS, "
                        "not cut short; decode: PIL decodes every image)")
    p.set_defaults(func=_validate)

    for module_name in COMMAND_MODULES:  # each feature adds its own subcommands
        importlib.import_module(module_name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


def _doctor(args) -> int:
    from .doctor import run_doctor

    if args.model_args and not args.model:
        print("vsfa doctor: --model-args needs --model", file=sys.stderr)
        return 2
    return run_doctor(sys.stdout, model=args.model, model_args=args.model_args)


def _validate(args) -> int:
    import os

    from .records import RecordError, validate_file
    from .records.images import escape_allowed_by_env

    roots = [os.path.dirname(os.path.abspath(args.path))] + list(args.media_dir or [])
    try:
        report = validate_file(args.path, args.format, media_roots=roots, check_images=args.check_images,
                               allow_escape=args.allow_path_escape or escape_allowed_by_env())
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
