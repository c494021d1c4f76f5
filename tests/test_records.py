"""Record schemas, readers and file validation: every bad row names file:line."""

import json

import pytest
from PIL import Image

from vsfa_plugins.records import (
    CAPTION_TEMPLATE,
    REFUSAL_SENTENCE,
    MediaResolver,
    RecordError,
    iter_json_rows,
    parse_record,
    validate_file,
)
from vsfa_plugins.records import reader as reader_module


def _row(**kw):
    row = {"id": "r0", "images": ["a.png"], "turns": [{"question": "What colour is it?", "answer": "Red."}]}
    row.update(kw)
    return row


def png(path):
    Image.new("RGB", (4, 3), "red").save(path)
    return path


@pytest.fixture()
def data_dir(tmp_path):
    png(tmp_path / "a.png")
    png(tmp_path / "b.png")
    return tmp_path


def write_json(path, rows):
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return path


# --- readers -------------------------------------------------------------------------------------


def test_json_array_rows_carry_their_start_line(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n {"a": 1},\n\n {"a": 2,\n  "b": 3}\n]\n')
    got = [(loc.line, loc.row, obj) for loc, obj in iter_json_rows(path)]
    assert got == [(2, 0, {"a": 1}), (4, 1, {"a": 2, "b": 3})]


def test_json_array_parses_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(reader_module, "_CHUNK", 7)  # force rows to straddle many reads
    rows = [{"id": i, "text": "x" * (i % 5), "nested": {"k": [i, i + 1]}} for i in range(40)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(rows, indent=1))
    got = list(iter_json_rows(path))
    assert [obj for _, obj in got] == rows
    lines = path.read_text().splitlines()
    for loc, obj in got:  # each reported line really is where that row's '{' is
        assert lines[loc.line - 1].strip() == "{"


def test_jsonl_skips_blank_lines_and_counts_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert [(loc.line, loc.row) for loc, _ in iter_json_rows(path)] == [(1, 0), (3, 1)]


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("bad.jsonl", '{"a": 1}\n{"a": \n', r"bad.jsonl:2: malformed JSON line"),
        ("bad.json", '[\n{"a": 1},\n{"a": 2,, "b": 1}\n]', r"bad.json:3: malformed JSON"),
        ("trunc.json", '[\n{"a": 1},\n{"a": 2', r"trunc.json:3: truncated file"),
        ("open.json", '[\n{"a": 1}\n', r"open.json:3: truncated file"),
        ("obj.json", '{"a": 1}', r"obj.json:1: expected a JSON array"),
        ("empty.json", "  \n", r"empty.json:1: empty file"),
        ("sep.json", '[{"a": 1} {"a": 2}]', r"sep.json:1: expected ','"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(RecordError, match=expected):
        list(iter_json_rows(path))


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "\xff\xfe"}\n')
    with pytest.raises(RecordError, match=r"d.jsonl:2: not valid UTF-8"):
        list(iter_json_rows(path))


# --- schema --------------------------------------------------------------------------------------


def test_native_turns_get_image_tags_prepended():
    record = parse_record(_row(images=["a.png", "b.png"]), "vsfa", "f:1")
    assert record.chat() == [
        {"role": "user", "content": "<image><image>\nWhat colour is it?"},
        {"role": "assistant", "content": "Red."},
    ]


def test_llava_conversations_keep_their_tags_and_system():
    row = {
        "id": 7, "image": "a.png",
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A sign."},
            {"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "Yellow."},
        ],
    }
    record = parse_record(row, "vsfa", "f:1")
    assert record.id == "7" and record.system == "Be brief." and record.images == ["a.png"]
    assert [m["content"] for m in record.chat()] == ["<image>\nWhat is it?", "A sign.", "Colour?", "Yellow."]


def test_text_modality_replaces_image_by_caption_and_drops_tags():
    row = _row(modality="text", caption="A red cube.", turns=[{"question": "<image>\nWhat colour?", "answer": "Red."}])
    record = parse_record(row, "vsfa", "f:1")
    assert not record.uses_images
    assert record.chat()[0]["content"] == CAPTION_TEMPLATE.format(caption="A red cube.", question="What colour?")
    assert "<image>" not in record.chat()[0]["content"]


def test_mixed_modality_has_image_and_caption():
    record = parse_record(_row(modality="mixed", caption="A red cube."), "vsfa", "f:1")
    content = record.chat()[0]["content"]
    assert content.startswith("<image>\nImage description: A red cube.") and record.uses_images


@pytest.mark.parametrize(
    "row, fmt, message",
    [
        (_row(modality="video"), "vsfa", "unknown modality 'video'"),
        (_row(modality="text"), "vsfa", "'caption' .* is empty|caption"),
        (_row(images=[]), "vsfa", "needs at least one image"),
        (_row(turns=[{"question": "Q?", "answer": "  "}]), "vsfa", "turn 0 answer is empty"),
        (_row(turns=[]), "vsfa", "non-empty list"),
        ({"id": "x", "conversations": [{"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}]}, "vsfa",
         "message 0 .* must be from the user"),
        ({"id": "x", "image": "a.png", "conversations": [{"from": "human", "value": "Q"}]}, "vsfa",
         "ends with a user message"),
        ({"id": "x", "image": "a.png", "conversations": [{"from": "human", "value": "Q"}, {"from": "human", "value": "Q"}]},
         "vsfa", "message 1 .* must be from the assistant"),
        (_row(kind="other"), "rejection_mix", "'kind' must be one of"),
        (_row(kind="rejection", turns=[{"question": "a", "answer": "b"}, {"question": "c", "answer": "d"}]),
         "rejection_mix", "exactly one question"),
        ({"id": "x"}, "vsfa", "no conversation"),
        ([1, 2], "vsfa", "must be a JSON object"),
        (_row(images=["a.png"], turns=[{"question": "<image><image> Q", "answer": "A"}]), "vsfa", "2 '<image>' tags"),
    ],
)
def test_bad_rows_raise_with_location(row, fmt, message):
    with pytest.raises(RecordError, match=message) as info:
        parse_record(row, fmt, "data.json:12 (row 3)")
    assert str(info.value).startswith("data.json:12 (row 3)")


def test_rejection_row_keeps_image_and_refusal():
    row = {"id": "r", "kind": "rejection", "image": "a.png",
           "conversations": [{"from": "human", "value": "<image>\nWhat is shown?"}, {"from": "gpt", "value": REFUSAL_SENTENCE}]}
    record = parse_record(row, "rejection_mix", "f:1")
    assert record.kind == "rejection" and record.uses_images
    assert record.chat()[-1]["content"] == "I'm sorry, but I cannot assist with your request"


# --- media resolution ----------------------------------------------------------------------------


def test_media_resolution_order_and_escape(tmp_path):
    root, media = tmp_path / "data", tmp_path / "media"
    root.mkdir(), media.mkdir()
    (media / "m.png").write_bytes(b"x")
    (tmp_path / "outside.png").write_bytes(b"x")
    resolver = MediaResolver([str(root), str(media)])
    assert resolver.resolve("m.png", "w") == str(media / "m.png")
    assert resolver.resolve(str(tmp_path / "outside.png"), "w") == str(tmp_path / "outside.png")
    with pytest.raises(RecordError, match=r"w: image path '\.\./outside.png' climbs out"):
        resolver.resolve("../outside.png", "w")
    assert MediaResolver([str(root)], allow_escape=True).resolve("../outside.png", "w") == str(tmp_path / "outside.png")
    with pytest.raises(RecordError, match="image not found: 'missing.png'"):
        resolver.resolve("missing.png", "w")


# --- whole files ---------------------------------------------------------------------------------


def test_validate_file_counts(data_dir):
    rows = [_row(id="a"), _row(id="b", modality="text", caption="c"), _row(id="c", modality="mixed", caption="c")]
    report = validate_file(str(write_json(data_dir / "v.json", rows)), "vsfa")
    assert (report.rows, report.images) == (3, 2)
    assert dict(report.by_modality) == {"image": 1, "text": 1, "mixed": 1}
    assert report.mixes_image_and_text_rows


def test_validate_file_lists_every_bad_row(data_dir):
    rows = [_row(id="a"), _row(id="a"), _row(id="c", images=["nope.png"]), _row(id="d", modality="x"), _row(id="e")]
    with pytest.raises(RecordError) as info:
        validate_file(str(write_json(data_dir / "v.json", rows)), "vsfa")
    text = str(info.value)
    assert "3 bad row(s)" in text
    assert "v.json:14 (row 1): duplicate id 'a' (first at " in text
    assert "v.json:26 (row 2) (id=c): image not found: 'nope.png'" in text
    assert "v.json:38 (row 3) (id=d): unknown modality 'x'" in text


def test_validate_file_rejects_field_type_changes(data_dir):
    rows = [_row(id="a", images="a.png"), _row(id="b", images=["a.png"])]
    with pytest.raises(RecordError, match="field 'images' is a list here but a string"):
        validate_file(str(write_json(data_dir / "v.json", rows)), "vsfa")


def test_validate_file_rejects_escape_unless_allowed(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    png(tmp_path / "x.png")
    path = write_json(data / "v.json", [_row(images=["../x.png"])])
    with pytest.raises(RecordError, match="climbs out"):
        validate_file(str(path), "vsfa")
    assert validate_file(str(path), "vsfa", allow_escape=True).rows == 1
