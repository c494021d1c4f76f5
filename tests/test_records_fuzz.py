"""Property-based fuzz of the record loaders: any input ends in valid rows or our RecordError."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vsfa_plugins.records import RecordError, iter_json_rows, parse_record, validate_file
from vsfa_plugins.records import reader as reader_module

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
# rows that look like ours often enough to reach the deeper checks
KEYS = ["id", "images", "image", "turns", "conversations", "messages", "modality", "caption", "kind", "system",
        "question", "answer", "from", "value", "role", "content", "threat_category"]
row_like = st.recursive(
    json_scalars | st.sampled_from(["<image>", "human", "gpt", "user", "assistant", "image", "text", "mixed",
                                    "rejection", "instruct", "a.png"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=15,
)
message_like = st.dictionaries(st.sampled_from(["from", "value", "role", "content"]), row_like, max_size=3)
conversation_rows = st.fixed_dictionaries(
    {"conversations": st.lists(message_like, max_size=4)},
    optional={"image": row_like, "kind": row_like, "modality": row_like, "caption": row_like},
) | st.fixed_dictionaries(
    {"messages": st.lists(message_like, max_size=4)}, optional={"images": row_like, "system": row_like}
) | st.fixed_dictionaries(
    {"turns": st.lists(st.dictionaries(st.sampled_from(["question", "answer"]), row_like, max_size=2), max_size=3)},
    optional={"images": row_like, "modality": row_like, "caption": row_like, "kind": row_like, "id": row_like},
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(obj=row_like | conversation_rows, fmt=st.sampled_from(["vsfa", "rejection_mix"]))
def test_parse_record_returns_a_record_or_raises_record_error(obj, fmt):
    try:
        record = parse_record(obj, fmt, "f:1")
    except RecordError as err:
        assert str(err).startswith("f:1")
        return
    messages = record.chat()
    assert len(messages) == 2 * len(record.turns) and all(isinstance(m["content"], str) for m in messages)


@SETTINGS
@given(raw=st.binary(max_size=200) | st.text(alphabet=string.printable + "{}[]\":,", max_size=200).map(str.encode),
       suffix=st.sampled_from([".json", ".jsonl"]))
def test_arbitrary_bytes_parse_or_raise_record_error(tmp_path, raw, suffix, monkeypatch):
    monkeypatch.setattr(reader_module, "_CHUNK", 16)  # exercise the chunk-boundary path too
    path = tmp_path / f"f{suffix}"
    path.write_bytes(raw)
    try:
        rows = list(iter_json_rows(path))
    except RecordError as err:
        assert str(path) in str(err)
        return
    if suffix == ".json":
        assert [obj for _, obj in rows] == json.loads(raw.decode("utf-8"))


@SETTINGS
@given(rows=st.lists(row_like | conversation_rows, max_size=5))
def test_validate_file_never_raises_anything_else(tmp_path, rows):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(rows))
    try:
        report = validate_file(str(path), "vsfa", check_images=False)
    except RecordError:
        return
    assert report.rows == len(rows)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_valid_arrays_round_trip_exactly(tmp_path, n):
    rows = [{"id": i, "turns": [{"question": "q", "answer": "a"}], "modality": "text", "caption": "c"} for i in range(n)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(rows))
    if n == 0:
        with pytest.raises(RecordError, match="no rows"):
            validate_file(str(path), "vsfa")
    else:
        assert validate_file(str(path), "vsfa").rows == n


# --- the builders' reader/parser and the formats' reader/parser are one: they agree on every input ----------

alpaca_rows = st.fixed_dictionaries(
    {"instruction": row_like},
    optional={"input": row_like, "output": row_like, "history": st.lists(st.lists(row_like, max_size=3), max_size=2),
              "system": row_like, "images": row_like},
)


@SETTINGS
@given(obj=row_like | conversation_rows | alpaca_rows)
def test_source_and_format_parsers_agree(obj):
    """normalize_source_row (builders) and parse_record (formats, validation) accept and refuse the same rows,
    with the same reason and message, and read the same turns / images / system / id."""
    from vsfa_plugins.records.errors import Location, where
    from vsfa_plugins.records.source import normalize_source_row

    loc = Location("src.jsonl", 3, 2)
    src = rec = src_err = rec_err = None
    try:
        src = normalize_source_row(obj, loc)
    except RecordError as err:
        src_err = err
    try:
        rec = parse_record({**obj, "kind": "instruct"} if isinstance(obj, dict) else obj, "rejection_mix", "f:1")
    except RecordError as err:
        rec_err = err
    if src_err is not None:
        assert rec_err is not None and rec_err.reason == src_err.reason
        assert str(src_err)[len(where(loc)):] == str(rec_err)[len("f:1"):]
        return
    if rec_err is not None:  # only the format's own rules may refuse what the parser accepted
        assert rec_err.reason == "image_tags", rec_err
        return
    assert [(t.question, t.answer) for t in rec.turns] == src.turns
    assert (rec.images, rec.system, rec.id) == (src.images, src.system, None if src.id is None else str(src.id))


@SETTINGS
@given(conv=st.lists(message_like | st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt"]),
                                                           "value": st.sampled_from(["q", " ", "", "<image>\nq"])}),
                     max_size=6))
def test_fast_llava_path_agrees_with_the_full_walk(conv):
    from vsfa_plugins.records.conversation import _Row, _simple_llava_turns, _turns_from_messages

    fast = _simple_llava_turns(conv)
    if fast is None:
        return
    assert _turns_from_messages(conv, "from", "value", "conversations", _Row("f", None, None)) == (fast, "")


@SETTINGS
@given(lines=st.lists(st.binary(max_size=40) | st.sampled_from([b'{"a": 1}', b"[1, 2]", b'"x"', b"{", b"\xff"]),
                      max_size=6))
def test_jsonl_rows_match_json_loads_line_by_line(tmp_path, lines):
    """Each JSONL line is a row or a row error with a reason: exactly where json.loads says so."""
    from vsfa_plugins.records.scan import scan_rows

    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = {s.line: s for s in scan_rows(path)}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            assert n not in got
            continue
        try:
            expected = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            assert got[n].error is not None and got[n].error.reason in ("non_utf8", "malformed_json")
            assert str(got[n].error).startswith(f"{path}:{n}: ")
        else:
            assert got[n].error is None and got[n].obj == expected


@SETTINGS
@given(obj=conversation_rows | alpaca_rows | row_like)
@example(obj={"id": 1, "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nq"},
                                                          {"from": "gpt", "value": "a"}]})
@example(obj={"id": True, "image": " ", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})
def test_fast_row_path_agrees_with_the_full_parse(obj):
    """parse_conversation's shortcut for plain-dict LLaVA rows gives what the full parse gives (a read-only
    Mapping view of the same row always takes the full parse)."""
    from types import MappingProxyType

    from vsfa_plugins.records.conversation import parse_conversation

    if not isinstance(obj, dict):
        return
    results = []
    for view in (obj, MappingProxyType(obj)):
        try:
            results.append(parse_conversation(view, "f:1"))
        except RecordError as err:
            results.append((err.reason, str(err)))
    assert results[0] == results[1]
