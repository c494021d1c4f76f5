"""``vsfa report``: compare evaluation runs in one self-contained HTML page and a Markdown file.

    vsfa report RUN_DIR [RUN_DIR ...] [--name NAME ...] [--out DIR]

Modules, in the order the data flows:

- :mod:`.collect` — read a run directory: lmms-eval results + samples (newest per task) and ``vsfa score``
  outputs, into plain records; bad inputs raise :class:`ReportInputError` naming the file
- :mod:`.summary` — pooled numbers per run and the comparison tables (the document, no I/O)
- :mod:`.plots` — the figures as deterministic PNG bytes (matplotlib, Agg)
- :mod:`.render` — the document as HTML (figures embedded), Markdown and text
- :mod:`.cli` — the subcommand; :func:`make_report` is the same from Python

Importing this package is cheap: matplotlib is imported only when a report is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .collect import ReportInputError, Run, read_run

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    summary: str  # the summary table as text
    notes: tuple[str, ...]


def read_runs(run_dirs: Sequence[str | os.PathLike], names: Sequence[str] = ()) -> list[Run]:
    """The runs, in the given order; ``names`` label the first ``len(names)`` of them."""
    if not run_dirs:
        raise ReportInputError("no run directory given")
    if len(names) > len(run_dirs):
        raise ReportInputError(f"{len(names)} --name values for {len(run_dirs)} run directories")
    runs = [read_run(d, names[i] if i < len(names) else None) for i, d in enumerate(run_dirs)]
    seen: dict[str, str] = {}
    for run in runs:
        if run.name in seen:
            raise ReportInputError(
                f"two runs would both be called {run.name!r} ({seen[run.name]} and {run.directory}); "
                "name them with --name, once per run directory in order"
            )
        seen[run.name] = run.directory
    return runs


def make_report(run_dirs: Sequence[str | os.PathLike], names: Sequence[str] = (),
                out_dir: str | os.PathLike | None = None) -> ReportFiles:
    """Read the runs and write ``report.html``, ``report.md`` and the PNGs into ``out_dir`` (default: the
    first run directory). Same inputs, same bytes.

    Raises :class:`~vsfa_plugins.io.OutputError` when ``out_dir`` is an existing file, and ``OSError``
    (``filename`` = the file being written) when the folder cannot be written (read-only, full disk)."""
    from .. import __version__
    from ..io import OutputError
    from .render import to_html, to_markdown, to_text
    from .summary import build_document

    out = Path(out_dir if out_dir is not None else run_dirs[0])
    if out.exists() and not out.is_dir():  # checked before reading anything: a typo costs no time
        raise OutputError(f"--out {out} is a file, not a folder: name a folder for report.html, report.md "
                          "and the plots")
    runs = read_runs(run_dirs, names)
    document = build_document(runs, __version__)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(err.errno, f"cannot create the report folder ({err.strerror or err})", str(out)) from None
    figures = []
    for figure in document.figures:
        figures.append(_write(out / figure.filename, figure.png))
    markdown = _write(out / MARKDOWN_NAME, to_markdown(document).encode("utf-8"))
    page = _write(out / HTML_NAME, to_html(document).encode("utf-8"))  # last: its presence means "complete"
    notes = next((tuple(b) for s in document.sections if s.anchor == "notes" for b in s.blocks), ())
    return ReportFiles(page, markdown, tuple(figures), to_text(document.summary), notes)


def _write(path: Path, data: bytes) -> Path:
    """Atomically (:class:`vsfa_plugins.io.AtomicFile`): a reader never sees half a report, and an
    interrupted or failed write leaves the old file and no temp file."""
    from ..io import AtomicFile

    try:
        with AtomicFile(path, binary=True) as handle:
            handle.write(data)
    except OSError as err:
        raise OSError(err.errno, f"cannot write {path.name} ({err.strerror or err})", str(path)) from None
    return path


__all__ = ["HTML_NAME", "MARKDOWN_NAME", "ReportFiles", "ReportInputError", "make_report", "read_runs"]
