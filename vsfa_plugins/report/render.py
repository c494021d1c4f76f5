"""A :class:`~.summary.Document` as a self-contained HTML page, as Markdown, and as plain text.

The HTML has no external asset: CSS inline, every figure a ``data:image/png;base64`` URI. The Markdown
links the PNG files written next to it. Text is escaped for each format — names come from run folders,
results and samples files, i.e. from whoever made them (``<img onerror=...>``, ``|``, backticks,
newlines): HTML with ``html.escape``, Markdown with :func:`md_text` (no raw HTML, no emphasis, no link,
no table cell or block a name could open). A ``"\\n"`` inside a cell is a line break; in prose, the only
markup is `backticks` for code.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from collections.abc import Iterable

from .summary import Document, Figure, Table

_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d2430;
       font: 14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #dde2ea; }
p { margin: 8px 0; max-width: 980px; }
nav { margin: 12px 0 4px; font-size: 13px; }
nav a { margin-right: 14px; color: #2357a6; text-decoration: none; }
code { background: #eef1f5; padding: 0 3px; border-radius: 3px; }
.table-wrap { overflow-x: auto; margin: 10px 0 16px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d5dbe4; padding: 5px 9px; text-align: left; vertical-align: top; }
td.path { overflow-wrap: anywhere; min-width: 9em; }  /* file names wrap instead of widening the table */
th { background: #eef1f5; font-weight: 600; }
tbody tr:nth-child(even) { background: #f8f9fb; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
figure { margin: 14px 0 22px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ee; }
figcaption { font-size: 13px; color: #4a5568; margin-top: 4px; }
ul { margin: 6px 0; padding-left: 22px; }
""".strip()


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------


def to_html(document: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(document.title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{html.escape(document.title)}</h1>",
        *(f"<p>{_inline_html(text)}</p>" for text in document.intro),
        "<nav>" + "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in document.sections) + "</nav>",
    ]
    for section in document.sections:
        parts.append(f'<section id="{section.anchor}">')
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(_html_block(block) for block in section.blocks)
        parts.append("</section>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _html_block(block) -> str:
    if isinstance(block, str):
        return f"<p>{_inline_html(block)}</p>"
    if isinstance(block, list):
        return "<ul>\n" + "\n".join(f"<li>{_inline_html(item)}</li>" for item in block) + "\n</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        width, height = png_size(block.png)
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
                f'alt="{html.escape(block.title)}"><figcaption>{html.escape(block.title)}</figcaption></figure>')
    raise TypeError(f"unknown block {type(block).__name__}")


def _html_table(table: Table) -> str:
    def cls(index: int) -> str:
        if index in table.right:
            return ' class="num"'
        return ' class="path"' if index in table.paths else ""

    head = "".join(f"<th{cls(i)}>{html.escape(c)}</th>" for i, c in enumerate(table.columns))
    body = "\n".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_cell_html(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in table.rows
    )
    return f'<div class="table-wrap"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'


def _cell_html(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def _inline_html(text: str) -> str:
    """Escaped text; `backticks` become <code> (the only markup the document's prose uses)."""
    return "".join(f"<code>{html.escape(p)}</code>" if code else html.escape(p) for code, p in _code_spans(text))


def _code_spans(text: str) -> list[tuple[bool, str]]:
    """Prose split at its backticks: ``(is_code, piece)`` in order (an unpaired backtick ends as code)."""
    return [(bool(i % 2), piece) for i, piece in enumerate(text.split("`"))]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16–24)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


def to_markdown(document: Document) -> str:
    lines = [f"# {md_text(document.title)}", ""]
    for text in document.intro:
        lines += [_md_prose(text), ""]
    for section in document.sections:
        lines += [f"## {md_text(section.title)}", ""]
        for block in section.blocks:
            lines += _md_block(block) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_block(block) -> list[str]:
    if isinstance(block, str):
        return [_md_prose(block)]
    if isinstance(block, list):
        return [f"- {_md_prose(item)}" for item in block]
    if isinstance(block, Table):
        return md_table(block)
    if isinstance(block, Figure):
        return [f"![{md_text(block.title)}]({block.filename})"]  # filename: safe_filename, [A-Za-z0-9_.-]
    raise TypeError(f"unknown block {type(block).__name__}")


# CommonMark: any ASCII punctuation may be backslash-escaped. These open markup anywhere in a line (code,
# emphasis, links, tables, strikethrough); "<" / ">" / "&" become entities so no raw HTML or entity
# survives; "_" is escaped only where it could open emphasis (intraword "_" never does).
_MD_ALWAYS = re.compile(r"[\\`*\[\]|~]")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9_])_+|_++(?![A-Za-z0-9])")
_MD_BLOCK_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")  # would start a heading, quote, list, rule


def md_text(text: str) -> str:
    """Plain text as Markdown that shows exactly that text (one line: newlines become spaces)."""
    text = html.escape(" ".join(str(text).splitlines()), quote=False)
    text = _MD_ALWAYS.sub(lambda m: "\\" + m.group(), text)
    return _MD_UNDERSCORE.sub(lambda m: "\\_" * len(m.group()), text)


def _md_prose(text: str) -> str:
    """Prose: `code` spans kept as code (their text is literal there), everything else :func:`md_text`;
    a line that would start a Markdown block is escaped."""
    out = "".join(f"`{piece}`" if code and piece else md_text(piece) for code, piece in _code_spans(text))
    # "# x" -> "\# x"; "1. x" -> "1\. x" (a backslash escapes punctuation only, not a digit)
    return _MD_BLOCK_START.sub(
        lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit() else "\\" + m.group(2)), out)


def md_table(table: Table) -> list[str]:
    def cell(text: str) -> str:
        return "<br>".join(md_text(line) for line in text.split("\n"))

    rule = ["---:" if i in table.right else "---" for i in range(len(table.columns))]
    return ["| " + " | ".join(cell(c) for c in row) + " |" for row in (table.columns, rule, *table.rows)]


# --------------------------------------------------------------------------------------------------
# plain text (stdout)
# --------------------------------------------------------------------------------------------------


def to_text(table: Table) -> str:
    rows = [tuple(c.replace("\n", ", ") for c in row) for row in (table.columns, *table.rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(table.columns))]

    def line(row: Iterable[str]) -> str:
        return "  ".join(c.rjust(w) if i in table.right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *(line(row) for row in rows[1:])])


__all__ = ["md_table", "md_text", "png_size", "to_html", "to_markdown", "to_text"]
