"""One vocabulary across commands: every command that writes a folder takes ``--out-dir`` and the old
``--out`` spelling as an alias for the same option; ``vsfa score`` takes ``--out`` beside ``--output``."""

from __future__ import annotations

import pytest

from vsfa_plugins.cli import build_parser

#: command -> (the positional / required arguments it needs besides the output, the option's dest)
FOLDER_COMMANDS = {
    "build-rejection-mix": (["--benign", "b.json", "--instruct", "i.json"], "out_dir"),
    "build-vlguard": (["--train-json", "t.json"], "out_dir"),
    "build-vsfa": ([], "out"),
    "render-typographic": ([], "out"),
    "report": (["run1"], "out"),
    "demo": ([], "out"),
}


@pytest.mark.parametrize("command", sorted(FOLDER_COMMANDS))
def test_out_dir_and_out_are_one_option(command):
    parser = build_parser()
    extra, dest = FOLDER_COMMANDS[command]
    for flag in ("--out-dir", "--out"):
        args = parser.parse_args([command, *extra, flag, "somewhere"])
        assert getattr(args, dest) == "somewhere", (command, flag)


def test_score_takes_out_beside_output():
    parser = build_parser()
    for flag in ("--output", "--out"):
        assert parser.parse_args(["score", "s.jsonl", "--judge", "xstest_strmatch", flag, "r.json"]).output == "r.json"
