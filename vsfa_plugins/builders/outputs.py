"""What every dataset builder shares: the build's output files (committed together or not at all),
``stats.json``, ``rejected.jsonl``, the ``dataset_info.json`` entry and the ``--skip-bad`` pattern.

A builder run produces, in its output folder::

    <name>.jsonl | <name>.json   the dataset (LLaMA-Factory-ready, one of our registered formats)
    dataset_info.json            the folder's LLaMA-Factory dataset_info.json with our entry merged in
                                 (an existing file keeps every entry it had; a name clash is refused)
    stats.json                   rows in / kept / rejected by reason / not selected, seed, tool version,
                                 sha256 and row count of every source file, sha256 of every output
    rejected.jsonl               one line per rejected input row (file:line, row, id, reason, message)

Guarantees (tested): every file is written to a hidden temp file in the target folder and moved into
place with ``os.replace`` only when the whole run succeeded (:class:`Outputs`), so a failed or
interrupted run never leaves a partial file that looks complete, and the temp files a killed run left
are removed by the next; no output is one of the inputs; the same inputs and seed give byte-identical
files; and ``kept + rejected + not_selected == rows_in``.

The ``--skip-bad`` pattern (:class:`Rejects`): a bad input row raises
:class:`~vsfa_plugins.records.BadRow` (its message starts with ``file:line``) and stops the build, unless
the builder runs with ``skip_bad=True``; then the row is recorded in ``rejected.jsonl`` with its reason
and counted in ``stats.json`` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import __version__
from ..io import AtomicFile, OutputError, atomic_write_text, check_output_path, clean_stale_partials, dumps_document, dumps_row, plain_stem, sha256_file
from ..records.errors import BadRow, RecordError
from ..records.reader import Location

TOOL = f"vsfa-plugins {__version__}"

@dataclass
class Reject:
    path: str
    line: int
    row: int
    id: Any
    reason: str
    message: str
    role: str = ""

    def to_dict(self) -> dict:
        out = {"path": self.path, "line": self.line, "row": self.row}
        if self.role:
            out["role"] = self.role
        out.update({"id": self.id, "reason": self.reason, "message": self.message})
        return out


class Rejects:
    """The ``--skip-bad`` switch: :meth:`handle` raises a bad row's error, or records it when skipping."""

    def __init__(self, skip_bad: bool, stats: "BuildStats | None" = None):
        self.skip_bad = skip_bad
        self.stats = stats
        self.items: list[Reject] = []

    def handle(self, err: RecordError, loc: Location, row_id: Any = None, role: str = "", reason: str | None = None) -> None:
        """Raise ``err`` unless skipping bad rows; then record it (and count it in the stats)."""
        if not self.skip_bad:
            raise err
        reason = reason or err.reason
        if row_id is not None and not isinstance(row_id, (str, int, float, bool)):
            row_id = None
        self.items.append(Reject(loc.path, loc.line, loc.row, row_id, reason, str(err), role))
        if self.stats is not None:
            self.stats.reject(reason, role)

    def __len__(self) -> int:
        return len(self.items)

    def by_reason(self) -> Counter:
        return Counter(r.reason for r in self.items)

    def write(self, target: "AtomicFile") -> None:
        """JSONL, one object per rejected row, in the order the rows were met (deterministic)."""
        for item in self.items:
            target.write(dumps_row(item.to_dict()) + "\n")



class Outputs:
    """All files of one build, committed together at the end (in the order opened) or not at all.

    ::

        with Outputs(out_dir, inputs=[source]) as out:
            data = out.dataset("mix.jsonl")
            for row in rows: data.write(row)
            out.text("stats.json", stats.dumps())
            out.dataset_info({"mix": {...}}, merge_into=lab_info)   # merged, never clobbered
        # every file is in place here; on an exception none of them was replaced

    The walls (tested): a file goes only into ``out_dir`` under a plain name (``merge_into`` is the one
    other path, and the user named it); no output is one of ``inputs``; the temp files a killed earlier
    run left for these names are removed.
    """

    def __init__(self, out_dir: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()):
        self.out_dir = os.path.abspath(os.fspath(out_dir))
        self.inputs = [os.fspath(p) for p in inputs if p is not None]
        if os.path.exists(self.out_dir) and not os.path.isdir(self.out_dir):
            raise OutputError(f"output folder {self.out_dir} is a file")
        os.makedirs(self.out_dir, exist_ok=True)
        self._files: list[AtomicFile] = []

    def path(self, name: str) -> str:
        return os.path.join(self.out_dir, name)

    def file(self, name: str, binary: bool = False) -> AtomicFile:
        parts = name.replace(os.sep, "/").split("/")
        if os.path.isabs(name) or any(not p or p.startswith(".") for p in parts):
            raise OutputError(f"output name {name!r} must be a plain relative path inside {self.out_dir} "
                              f"(no '..', no hidden or empty parts)")
        return self._open(self.path(name), binary)

    def _open(self, path: str, binary: bool = False) -> AtomicFile:
        path = check_output_path(path, self.inputs)
        if any(f.path == path for f in self._files):
            raise OutputError(f"{path} would be written twice by one build")
        clean_stale_partials(os.path.dirname(path), [os.path.basename(path)])
        f = AtomicFile(path, binary=binary)
        self._files.append(f)
        return f

    def text(self, name: str, text: str) -> AtomicFile:
        f = self.file(name)
        f.write(text)
        return f

    def dataset(self, name: str, sort_keys: bool = False) -> "DatasetWriter":
        return DatasetWriter(self.file(name), jsonl=name.endswith(".jsonl"), sort_keys=sort_keys)

    def dataset_info(self, entries: Mapping[str, Mapping], merge_into: str | os.PathLike | None = None,
                     replace: bool = False) -> str:
        """Merge ``entries`` (``file_name`` relative to ``out_dir``) into ``out_dir/dataset_info.json`` —
        an existing file keeps all its entries — and into ``merge_into`` when given (the same file is
        merged once). Every clash is found before anything is written. Returns the out-dir file's path."""
        own = self.path(DATASET_INFO)
        targets = [own]
        if merge_into is not None:
            merge_into = os.path.abspath(os.fspath(merge_into))
            if not _same_path(merge_into, own):
                targets.append(merge_into)
        texts = [(t, merged_dataset_info(t, entries, self.out_dir, replace)) for t in targets]
        for target, text in texts:
            self._open(target).write(text)
        return own

    def commit(self) -> list[str]:
        """Flush every file first (a full disk fails here, before any file is replaced), then rename each
        into place; on any failure the files not yet in place are deleted."""
        try:
            for f in self._files:
                f.prepare()
            return [f.commit() for f in self._files]
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        for f in self._files:
            f.abort()

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def check_outputs(out_dir: str | os.PathLike, names: Iterable[str], inputs: Iterable[str | os.PathLike | None],
                  entries: Mapping[str, Mapping] | None = None, merge_into: str | os.PathLike | None = None,
                  replace: bool = False) -> None:
    """What :class:`Outputs` would refuse at the end, checked before a long build starts: an output that is
    an input or a folder, an unreadable ``dataset_info.json``, an entry name that clashes (nothing is
    written here)."""
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"output folder {out_dir} is a file")
    inputs = [p for p in inputs if p is not None]
    for name in list(names) + ([DATASET_INFO] if entries else []):
        check_output_path(os.path.join(out_dir, name), inputs)
    if entries:
        merged_dataset_info(os.path.join(out_dir, DATASET_INFO), entries, out_dir, replace)
        if merge_into is not None:
            check_output_path(merge_into, inputs, what="--merge-into")
            merged_dataset_info(merge_into, entries, out_dir, replace)


def _same_path(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


class DatasetWriter:
    """Rows into a ``.jsonl`` file (one per line) or a ``.json`` array (``[``, one row per line, ``]``).

    Also hashes what it writes, so ``stats.json`` can name the output's sha256 without re-reading it.
    """

    def __init__(self, target: AtomicFile, jsonl: bool, sort_keys: bool = False):
        self.target = target
        self.jsonl = jsonl
        self.sort_keys = sort_keys
        self.rows = 0
        self._sha = hashlib.sha256()
        self._closed = False

    @property
    def path(self) -> str:
        return self.target.path

    def _emit(self, text: str) -> None:
        self._sha.update(text.encode("utf-8"))
        self.target.write(text)

    def write(self, row: Any) -> None:
        self.write_text(dumps_row(row, self.sort_keys))

    def write_text(self, row_json: str) -> None:
        """Write an already serialised row (one line of JSON, no trailing newline)."""
        if self.jsonl:
            self._emit(row_json + "\n")
        else:
            self._emit(("[\n" if self.rows == 0 else ",\n") + row_json)
        self.rows += 1

    def close(self) -> str:
        """Finish the document (closing bracket) and return its sha256. Idempotent."""
        if not self._closed:
            if not self.jsonl:
                self._emit("[]\n" if self.rows == 0 else "\n]\n")
            self._closed = True
        return self._sha.hexdigest()


@dataclass
class BuildStats:
    """What ``stats.json`` says. ``kept + rejected + not_selected == rows_in`` (see :meth:`check`).

    ``rows_in`` counts the rows of every source (a file given in two roles counts once per role),
    ``kept`` the rows written, ``rejected`` the bad rows by reason, ``not_selected`` the good rows a
    sampling step left out. ``sources`` holds per-source detail (path, sha256, rows, the same split).
    """

    command: str
    seed: int | None = None
    params: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)
    rows_in: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    not_selected: int = 0
    counts: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def add_source(self, path: str, role: str, rows: int, sha256: str | None = None, **extra) -> dict:
        entry = {"role": role, "path": os.path.abspath(path),
                 "sha256": sha256_file(path) if sha256 is None else sha256, "rows": rows,
                 "kept": 0, "rejected": 0, "not_selected": 0}
        entry.update(extra)
        self.sources.append(entry)
        self.rows_in += rows
        return entry

    def source_done(self, role: str, rows: int, sha256: str) -> None:
        """Set the row count and hash of a source added with ``rows=0`` before it was scanned."""
        entry = self.source(role)
        self.rows_in += rows - entry["rows"]
        entry["rows"], entry["sha256"] = rows, sha256

    def source(self, role: str) -> dict:
        for entry in self.sources:
            if entry["role"] == role:
                return entry
        raise KeyError(role)

    def reject(self, reason: str, role: str = "") -> None:
        self.rejected[reason] += 1
        if role:
            self.source(role)["rejected"] += 1

    def keep(self, role: str = "", n: int = 1) -> None:
        self.kept += n
        if role:
            self.source(role)["kept"] += n

    def unselected(self, role: str = "", n: int = 1) -> None:
        self.not_selected += n
        if role:
            self.source(role)["not_selected"] += n

    def check(self) -> None:
        """Raise when the counts do not add up (a builder bug, never a data problem)."""
        total = self.kept + sum(self.rejected.values()) + self.not_selected
        if total != self.rows_in:
            raise AssertionError(
                f"row accounting broken: kept {self.kept} + rejected {sum(self.rejected.values())} + not selected "
                f"{self.not_selected} != rows in {self.rows_in}"
            )
        for s in self.sources:
            if s["kept"] + s["rejected"] + s["not_selected"] != s["rows"]:
                raise AssertionError(f"row accounting broken for source {s['role']} ({s['path']}): {s}")

    def to_dict(self) -> dict:
        return {
            "tool": TOOL,
            "command": self.command,
            "seed": self.seed,
            "params": self.params,
            "sources": self.sources,
            "rows_in": self.rows_in,
            "kept": self.kept,
            "rejected": {"total": sum(self.rejected.values()), "by_reason": dict(sorted(self.rejected.items()))},
            "not_selected": self.not_selected,
            "counts": self.counts,
            "outputs": self.outputs,
            "notes": self.notes,
        }

    def dumps(self) -> str:
        return dumps_document(self.to_dict())


DATASET_INFO = "dataset_info.json"


def dataset_info_entry(name: str, file_name: str, formatting: str) -> dict:
    """The entry to put in a LLaMA-Factory ``dataset_info.json`` (it keeps only whitelisted keys, so our
    options travel as format names: ``vsfa``, ``rejection_mix``, ``rejection_mix_keep_eos``)."""
    return {name: {"file_name": file_name, "formatting": formatting}}


def read_dataset_info(info_path: str) -> dict:
    """A ``dataset_info.json`` as a dict (``{}`` when the file does not exist); :class:`RecordError` naming
    the file when it is not a JSON object."""
    from ..records.reader import read_json_document

    if not os.path.exists(info_path):
        return {}
    current = read_json_document(info_path)
    if not isinstance(current, dict):
        raise RecordError(f"{info_path}: dataset_info.json must hold a JSON object, found {type(current).__name__}")
    return current


def merged_dataset_info(info_path: str | os.PathLike, entries: Mapping[str, Mapping], built_in: str | None = None,
                        replace: bool = False) -> str:
    """The text of ``info_path`` with ``entries`` added: every entry already there is kept, in its order.

    With ``built_in`` (the folder the datasets were written to), each ``file_name`` is rewritten relative
    to ``info_path``'s folder when the file lies under it, else made absolute (LLaMA-Factory joins it to
    ``dataset_dir``; an absolute path survives the join). An existing entry of the same name with other
    content is refused (:class:`RecordError`) unless ``replace``; the same content is a no-op (reruns).
    """
    info_path = os.path.abspath(os.fspath(info_path))
    current = read_dataset_info(info_path)
    folder = os.path.dirname(info_path)
    for name, entry in entries.items():
        entry = dict(entry)
        if built_in is not None:
            target = os.path.abspath(os.path.join(built_in, entry["file_name"]))
            rel = os.path.relpath(target, folder)
            entry["file_name"] = target if rel == ".." or rel.startswith(".." + os.sep) else rel
        if name in current and current[name] != entry and not replace:
            raise RecordError(
                f"{info_path}: already has a different entry {name!r}: {json.dumps(current[name])}; nothing was "
                f"written — choose another --name or pass --replace-entry")
        current[name] = entry
    # keep the lab's order for existing keys, append new ones (json.load keeps order)
    return json.dumps(current, ensure_ascii=False, indent=2) + "\n"


def merge_dataset_info(info_path: str | os.PathLike, entries: Mapping[str, Mapping], built_in: str | None = None,
                       replace: bool = False) -> str:
    """Merge ``entries`` into ``info_path`` (created if missing) with one atomic replace; returns its path."""
    return atomic_write_text(info_path, merged_dataset_info(info_path, entries, built_in, replace))
