"""``vsfa data``: what benchmark data is present, and synthetic copies for smoke tests.

    vsfa data list   [--root DIR]                    # every benchmark: found / incomplete / absent, rows vs published
    vsfa data sample --root DIR [NAME ...] [--force]  # a small synthetic copy of each, in its official layout

``sample`` writes, per benchmark, ``DIR/<id>/`` with a few placeholder rows and tiny images in exactly the
layout its module reads (``Benchmark.write_sample``), marked by ``SYNTHETIC_SAMPLE.txt`` at its root:
point ``VSFA_DATA_ROOT`` at ``DIR`` and ``lmms-eval --tasks vsfa_safety`` runs every benchmark on it. It never
writes outside ``DIR``, never into a folder that holds a real release (no marker: refused, named, exit 1),
and leaves an existing sample alone unless ``--force``. ``list`` marks synthetic folders as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("data", help="benchmark data: what is present (list), synthetic copies (sample)",
                              description="Benchmark data: what is present under the data root, and synthetic "
                                          "copies in each benchmark's official layout for smoke tests.")
    sub = p.add_subparsers(dest="data_command", required=True, metavar="{list,sample}")
    listing = sub.add_parser("list", help="each benchmark under the data root: found / incomplete / absent, "
                                          "rows per subset against the published counts")
    listing.add_argument("--root", help="the data root (default $VSFA_DATA_ROOT, else ~/.cache/vsfa/data)")
    listing.set_defaults(func=run_list)
    sample = sub.add_parser("sample", help="write a small synthetic copy of each benchmark in its official layout")
    sample.add_argument("--root", required=True, help="where to write (each benchmark in <root>/<id>/)")
    sample.add_argument("names", nargs="*", metavar="NAME", help="benchmark ids (default: every benchmark)")
    sample.add_argument("--force", action="store_true", help="rewrite samples already there (never a real release)")
    sample.set_defaults(func=run_sample)


def _with_root(root: str | None):
    """Point the benchmarks at ``root`` for this process (their folder() reads the data root)."""
    from .release import DATA_ROOT_ENV

    if root:
        os.environ[DATA_ROOT_ENV] = os.path.abspath(root)


def _selected(names: list[str]) -> list:
    from . import benchmarks

    known = benchmarks()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names] if names else list(known.values())


def run_list(args: argparse.Namespace) -> int:
    from . import benchmarks, check_local_release
    from .release import SYNTHETIC_MARKER, data_root, local_status

    _with_root(args.root)
    print(f"benchmark data under {data_root()}:")
    ok = True
    for benchmark in benchmarks().values():
        status, missing = local_status(benchmark)
        synthetic = (benchmark.folder() / SYNTHETIC_MARKER).is_file()
        line = f"  {benchmark.id:<16} {status}{' (SYNTHETIC sample)' if synthetic else ''}"
        if status == "incomplete":
            line += f" (missing: {', '.join(missing)})"
        elif status == "absent":
            line += f" (expected {benchmark.folder()}/; published at {benchmark.published})"
        print(line)
        for check in check_local_release(benchmark):
            print(f"    {check.line()}")
            ok &= check.ok
    return 0 if ok else 1


def run_sample(args: argparse.Namespace) -> int:
    from .release import SYNTHETIC_MARKER

    try:
        chosen = _selected(args.names)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    root = Path(args.root)
    if root.exists() and not root.is_dir():
        print(f"error: {root}: not a folder", file=sys.stderr)
        return 1
    root.mkdir(parents=True, exist_ok=True)
    status = 0
    for benchmark in chosen:
        folder = root / benchmark.id
        if benchmark.write_sample is None:
            print(f"error: {benchmark.id}: its module writes no sample", file=sys.stderr)
            status = 1
            continue
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            print(f"error: {folder}: a link or a file, not a sample folder; left alone", file=sys.stderr)
            status = 1
            continue
        if folder.is_dir() and any(folder.iterdir()):
            if not (folder / SYNTHETIC_MARKER).is_file():
                print(f"error: {folder} holds data that is not a synthetic sample (no {SYNTHETIC_MARKER}): "
                      "refusing to write into a benchmark release", file=sys.stderr)
                status = 1
                continue
            if not args.force:
                print(f"{benchmark.id}: a synthetic sample is already in {folder} (--force rewrites it)")
                continue
            shutil.rmtree(folder)
        written = benchmark.write_sample(root)
        files = sum(1 for p in written.rglob("*") if p.is_file())
        print(f"{benchmark.id}: wrote a synthetic sample ({files} files) to {written}")
    if status == 0:
        print(f"next: VSFA_DATA_ROOT={root} lmms-eval --tasks vsfa_safety ...  (synthetic data: the numbers mean "
              "nothing, only that the pipeline runs)")
    return status
