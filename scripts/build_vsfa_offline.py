"""Rebuild ``vsfa_plugins/data/vsfa_offline_model.json`` — the weights of the ``vsfa_offline`` judge.

    python scripts/build_vsfa_offline.py XSTEST_CHECKOUT [--commit SHA] [--out PATH] [--check]

XSTEST_CHECKOUT: a clone of github.com/paul-rottger/exaggerated-safety (CC BY 4.0); its
``model_completions/xstest_v2_completions_*.csv`` (2,250 completions of 5 models with human labels) are
the training data. The commit is read from the checkout's git metadata when there is one (else give
``--commit``); it, the sha256 of every CSV and the licence are written into the file's ``training``
record. Same inputs -> byte-identical output (deterministic fit, rounded weights, sorted keys).
``--check`` rebuilds in memory and exits 1 when the shipped file differs.

Needs numpy and scipy (build time only; the judge itself is pure Python).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vsfa_plugins.io import atomic_write_text  # noqa: E402
from vsfa_plugins.scoring import offline, offline_fit  # noqa: E402

SOURCE = "github.com/paul-rottger/exaggerated-safety"
LICENCE = "CC-BY-4.0 (XSTest data); the fitted weights are derived from it"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vsfa_plugins", "data",
                           offline.MODEL_FILE)


def git_commit(folder: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def render(model: offline.Model) -> str:
    """The file's text: sorted keys, one weight row per line (reviewable diffs), final newline."""
    data = model.to_dict()
    head = {k: v for k, v in data.items() if k != "weights"}
    lines = [json.dumps(f) + ": " + json.dumps(w, separators=(",", ":")) for f, w in sorted(data["weights"].items())]
    text = json.dumps(head, sort_keys=True, indent=1, ensure_ascii=False)
    return text[:-2] + ',\n "weights": {\n  ' + ",\n  ".join(lines) + "\n }\n}\n"


def build(checkout: str, commit: str | None) -> str:
    examples, hashes = offline_fit.read_xstest_v2(checkout)
    commit = commit or git_commit(checkout)
    if not commit:
        raise ValueError(f"{checkout}: not a git checkout; give --commit")
    training = {"data": f"{SOURCE} model_completions/xstest_v2_completions_*.csv (final_label)",
                "commit": commit, "sha256": hashes, "licence": LICENCE}
    return render(offline_fit.fit(examples, training=training))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkout", help="XSTest checkout (or its model_completions folder)")
    p.add_argument("--commit", help="the checkout's commit, when it has no git metadata")
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true", help="exit 1 when --out differs from a rebuild")
    args = p.parse_args(argv)
    try:
        text = build(args.checkout, args.commit)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    json.loads(text)  # the hand-assembled layout is valid JSON
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read() == text
        print("up to date" if same else f"{args.out} differs from a rebuild")
        return 0 if same else 1
    print(f"wrote {atomic_write_text(args.out, text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
