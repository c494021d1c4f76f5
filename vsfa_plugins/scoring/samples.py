"""Rows to judge, read from lmms-eval ``--log_samples`` files or plain ``{prompt, response}`` JSONL.

**lmms-eval 0.7.3 sample files** (``<date>_samples_<task>.jsonl``, written by
``EvaluationTracker.save_results_samples``): per line ``doc_id``, ``target``, ``filtered_resps``
(a string — one request per doc — or a list of strings when a task repeats generation), sometimes
``resps``, ``input`` (the prompt: the request's first argument), ``doc_hash``, ``token_counts`` and one
key per metric (``process_results`` output, values may be dicts). 0.7.3 *removes* ``doc`` and
``arguments`` before writing; lines that still have them (older versions, in-memory samples) are read
too (``arguments[0]`` is the prompt).

**Plain JSONL**: ``{"prompt": ..., "response": ..., "benign": ..., "category": ..., "scenario": ...}``
(``response`` may be a list: several attempts at one prompt).

**Our tasks' samples** carry one ``vsfa_record`` per line (:data:`.contract.RECORD_FIELDS`): the row is then
re-judged from exactly what the in-task judge was given — ``judge_prompt`` (the benchmark's question, not
the model's prompt: FigStep's fixed instruction, AdaShield's defence text) and ``judge_meta`` — and takes its
``benign`` / ``category`` / ``cluster`` and its pairing key (benchmark / subset / id) from the record.

Files without a record (older versions of our tasks, stock tasks):
``benign`` / ``category`` / ``scenario`` are looked up, first hit wins: the row itself, then its ``doc``,
then the per-sample metric dicts holding the key, in file order (how our ``vsfa_*`` tasks log them, since
0.7.3 drops ``doc``; metric dicts that disagree on ``benign`` are an error). Rows that say nothing are
**benign** by default (``default_benign``): a stock capability task (mmvet, mmbench, ...) is all harmless
prompts, so its refusals are over-refusals.

Bad input raises :class:`~vsfa_plugins.records.RecordError` naming ``file:line``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..records import RecordError
from ..records.reader import iter_json_rows
from .contract import SAMPLE_RECORD, row_key

LMMS = "lmms_eval_samples"
PLAIN = "plain"


@dataclass(frozen=True)
class SampleRow:
    path: str
    line: int
    row: int
    format: str
    doc_id: Any
    prompt: str
    attempts: tuple[str, ...]
    benign: bool
    category: str | None
    benign_from: str  # where ``benign`` came from: "record", "row", "doc", "metric:<key>" or "default"
    meta: Mapping[str, Any] = field(default_factory=dict)  # what the judge is handed beside prompt and response
    cluster: str | None = None  # rows sharing a source question (record ``cluster``); None: its own
    key: str | None = None  # pairs the row across runs: benchmark/subset/id (record) or the doc id
    record: Mapping[str, Any] | None = None  # the in-task judge record, when the file has one

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


def read_samples(path: str | os.PathLike, *, default_benign: bool = True) -> list[SampleRow]:
    return list(iter_samples(path, default_benign=default_benign))


def iter_samples(path: str | os.PathLike, *, default_benign: bool = True) -> Iterator[SampleRow]:
    path = os.fspath(path)
    for location, obj in iter_json_rows(path):
        where = f"{location.path}:{location.line}"
        if not isinstance(obj, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        if "filtered_resps" in obj or "resps" in obj:
            fmt, prompt, attempts = LMMS, _lmms_prompt(obj), _lmms_attempts(obj, where)
        elif "response" in obj:
            fmt, prompt, attempts = PLAIN, obj.get("prompt", ""), _plain_attempts(obj["response"], where)
        else:
            raise RecordError(
                f"{where}: neither an lmms-eval sample (no 'filtered_resps'/'resps') nor a "
                f"{{prompt, response}} row (keys: {', '.join(sorted(obj)) or 'none'})"
            )
        record = obj.get(SAMPLE_RECORD)
        if record is not None:
            yield _from_record(location, fmt, obj, attempts, record, where)
            continue
        if not isinstance(prompt, str):
            raise RecordError(f"{where}: the prompt must be a string, got {type(prompt).__name__}")
        benign, benign_from = _lookup(obj, "benign", where)
        if benign is None:
            benign, benign_from = default_benign, "default"
        elif not isinstance(benign, bool):
            raise RecordError(f"{where}: 'benign' must be true or false, got {benign!r}")
        category, _ = _lookup(obj, "category", where)
        if category is not None and not isinstance(category, (str, int)):
            raise RecordError(f"{where}: 'category' must be a string, got {type(category).__name__}")
        category = None if category is None else str(category)
        scenario, _ = _lookup(obj, "scenario", where)
        meta = {"benign": benign, "category": category, "scenario": scenario if scenario is not None else category}
        doc_id = obj.get("doc_id", obj.get("id"))
        yield SampleRow(
            location.path,
            location.line,
            location.row,
            fmt,
            doc_id,
            prompt,
            attempts,
            benign,
            category,
            benign_from,
            meta,
            key=None if doc_id is None else str(doc_id),
        )


def _from_record(location, fmt: str, obj: Mapping[str, Any], attempts, record: Any, where: str) -> SampleRow:
    """A row of our tasks: judged again from exactly what the in-task judge was given."""
    what = f"{where}: '{SAMPLE_RECORD}'"
    if not isinstance(record, dict):
        raise RecordError(f"{what} must be an object, got {type(record).__name__}")
    for name, kind in (("judge_prompt", str), ("judge_meta", dict), ("benign", bool), ("id", str),
                       ("benchmark", str), ("subset", str)):
        if not isinstance(record.get(name), kind):
            got = "nothing" if name not in record else type(record[name]).__name__
            raise RecordError(f"{what}.{name} must be {'an object' if kind is dict else kind.__name__}, got {got}")
    category = record.get("category") or None
    if category is not None and not isinstance(category, str):
        raise RecordError(f"{what}.category must be a string, got {type(category).__name__}")
    cluster = record.get("cluster")
    return SampleRow(
        location.path, location.line, location.row, fmt, obj.get("doc_id", record["id"]), record["judge_prompt"],
        attempts, record["benign"], category, "record", dict(record["judge_meta"]),
        cluster=None if cluster is None else str(cluster),
        key=row_key(record["benchmark"], record["subset"], record["id"]), record=record,
    )


def _lookup(obj: Mapping[str, Any], name: str, where: str) -> tuple[Any, str]:
    if name in obj:
        return obj[name], "row"
    doc = obj.get("doc")
    if isinstance(doc, dict) and name in doc:
        return doc[name], "doc"
    found = [
        (key, value[name]) for key, value in obj.items() if isinstance(value, dict) and key != "doc" and name in value
    ]
    # a row is either benign or not: metrics that disagree are a bug worth stopping for; a category is a
    # label (mmbench's metric dict carries its own), so the first metric's wins
    if name == "benign" and len({repr(v) for _, v in found}) > 1:
        raise RecordError(
            f"{where}: per-sample metrics disagree on {name!r}: " + ", ".join(f"{k}={v!r}" for k, v in found)
        )
    if found:
        return found[0][1], f"metric:{found[0][0]}"
    return None, ""


def _lmms_prompt(obj: Mapping[str, Any]) -> str:
    if isinstance(obj.get("input"), str):
        return obj["input"]
    arguments = obj.get("arguments")
    if isinstance(arguments, list) and arguments and isinstance(arguments[0], str):
        return arguments[0]
    if (
        isinstance(arguments, list)
        and arguments
        and isinstance(arguments[0], list)
        and arguments[0]
        and isinstance(arguments[0][0], str)
    ):
        return arguments[0][0]
    doc = obj.get("doc")
    if isinstance(doc, dict):
        for key in ("question", "prompt", "instruction", "query"):
            if isinstance(doc.get(key), str):
                return doc[key]
    return ""


def _lmms_attempts(obj: Mapping[str, Any], where: str) -> tuple[str, ...]:
    key = "filtered_resps" if "filtered_resps" in obj else "resps"
    attempts = tuple(_flatten(obj[key], f"{where}: '{key}'"))
    if not attempts:
        raise RecordError(f"{where}: '{key}' holds no response")
    return attempts


def _plain_attempts(value: Any, where: str) -> tuple[str, ...]:
    attempts = tuple(_flatten(value, f"{where}: 'response'"))
    if not attempts:
        raise RecordError(f"{where}: 'response' holds no response")
    return attempts


def _flatten(value: Any, what: str) -> Iterator[str]:
    """A response, or nested lists of them (lmms-eval nests one list per request)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item, what)
    else:
        raise RecordError(f"{what} must be a string or a list of strings, found {type(value).__name__} {value!r:.60}")
