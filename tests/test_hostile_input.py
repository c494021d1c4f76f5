"""Hostile and broken input (issue 10): every case ends in a clear error naming file:line (a RecordError with
a reason code) or, under --skip-bad, a rejected row — never a traceback, never a silent pass.

One data layer: the reader (``records.scan`` / ``records.reader``), the conversation parser
(``records.source`` / ``records.schema``) and the image checker (``records.images``) are each one piece of
code, so every entry point (builders, ``vsfa validate``, LLaMA-Factory pre-load validation) agrees.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from vsfa_plugins.records import RecordError, iter_json_rows, parse_record, validate_file
from vsfa_plugins.records import errors as rerrors
from vsfa_plugins.records.errors import BadRow
from vsfa_plugins.records.reader import Location, read_json_document
from vsfa_plugins.records.scan import scan_rows
from vsfa_plugins.records.source import normalize_source_row

ROOT = Path(__file__).resolve().parents[1]
LOC = Location("src.jsonl", 3, 2)


# --------------------------------------------------------------------------------------------------
# hostile files
# --------------------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims ``width``×``height`` (a few hundred bytes on disk: its pixel data
    is a short zlib stream, so a decoder would inflate toward ``width × height`` bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def pgm_claiming(side: int) -> bytes:
    """A 1 KB binary PGM whose header claims ``side``²."""
    return f"P5\n{side} {side}\n255\n".encode() + b"\x00" * 1000


def real_png(path: Path, size=(8, 6), colour="red") -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def vsfa_row(rid: str, image: str) -> dict:
    return {"id": rid, "images": [image], "turns": [{"question": "What is shown?", "answer": "A square."}]}


def source_row(rid: str, image: str) -> dict:
    return {"id": rid, "image": image,
            "conversations": [{"from": "human", "value": "<image>\nWhat is shown?"}, {"from": "gpt", "value": "A square."}]}


@pytest.fixture()
def bombs(tmp_path):
    folder = tmp_path / "img"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(png_claiming(30000, 30000))
    (folder / "bomb.pgm").write_bytes(pgm_claiming(30000))
    for i in range(4):
        real_png(folder / f"ok{i}.png", colour=(i * 40, 0, 0))
    return folder


# --------------------------------------------------------------------------------------------------
# 1. one reader, one parser, one image checker
# --------------------------------------------------------------------------------------------------


def test_trailing_garbage_after_the_array_is_refused_by_every_reader(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[{"a": 1}] garbage')
    for read in (lambda: list(iter_json_rows(path)), lambda: list(scan_rows(path)),
                 lambda: validate_file(str(path), "vsfa")):
        with pytest.raises(RecordError, match=r"d\.json:1: unexpected text after the closing '\]'") as err:
            read()
        assert err.value.reason == "malformed_json"


def test_iter_json_rows_is_a_view_of_scan_rows(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n {"a": 1},\n\n "text", [1, 2],\n {"b": "é"}\n]\n')
    assert [(loc.line, loc.row, obj) for loc, obj in iter_json_rows(path)] == \
        [(s.line, s.row, s.obj) for s in scan_rows(path)]


@pytest.mark.parametrize("role", [["human"], {"x": 1}, None, 3])
def test_unhashable_or_odd_roles_are_a_bad_row_in_both_parsers(role):
    obj = {"id": "r", "conversations": [{"from": role, "value": "q"}, {"from": "gpt", "value": "a"}]}
    with pytest.raises(BadRow, match=r"src\.jsonl:3 \(row 2\) \(id=r\): message 0 of 'conversations'") as a:
        normalize_source_row(obj, LOC)
    with pytest.raises(RecordError, match=r"f:1 \(id=r\): message 0 of 'conversations'") as b:
        parse_record({**obj, "kind": "instruct"}, "rejection_mix", "f:1")
    assert a.value.reason == b.value.reason == "wrong_roles"


def test_skip_bad_rejects_a_list_valued_role_instead_of_crashing(tmp_path):
    from vsfa_plugins.builders.rejection_mix import build_rejection_mix

    rows = [source_row(f"g{i}", "") for i in range(4)]
    for r in rows:
        del r["image"]
        r["conversations"][0]["value"] = "What is shown?"
    bad = dict(rows[0], id="bad", conversations=[{"from": ["human"], "value": "q"}, {"from": "gpt", "value": "a"}])
    src = tmp_path / "benign.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [bad] + rows))
    res = build_rejection_mix(str(src), str(src), str(tmp_path / "out"), num_rejection=5, num_instruct=0,
                              skip_bad=True, compat="reference")
    rejected = [json.loads(line) for line in Path(res.rejected).read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rejected] == [("bad", "wrong_roles")]


def test_one_image_checker_is_used_by_validate_and_the_converter():
    from vsfa_plugins.records import images, schema, validate

    assert not hasattr(schema, "MediaResolver") or schema.MediaResolver is images.MediaResolver
    assert validate.ImageChecker is images.ImageChecker
    src = (ROOT / "vsfa_plugins" / "llamafactory" / "formats.py").read_text()
    assert "ImageChecker" in src


# --------------------------------------------------------------------------------------------------
# 2. reason codes set where the error is raised
# --------------------------------------------------------------------------------------------------


def test_reason_codes_come_from_the_raise_site_not_from_message_text():
    assert not hasattr(rerrors, "reason_of") and not hasattr(rerrors, "REASONS")
    assert RecordError("x").reason == "invalid_row"
    err = RecordError("f:1: image not found: a.png", "missing_image")
    assert err.reason == "missing_image" and str(err) == "f:1: image not found: a.png"
    # a message that merely looks like another reason keeps its own code
    assert RecordError("f:1: malformed JSON, image not found", "wrong_roles").reason == "wrong_roles"


@pytest.mark.parametrize("obj, fmt, reason", [
    ([1], "vsfa", "not_an_object"),
    ({"id": [1], "turns": []}, "vsfa", "bad_field"),
    ({"id": "a"}, "vsfa", "no_conversation"),
    ({"turns": []}, "vsfa", "empty_conversation"),
    ({"conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}]}, "vsfa", "wrong_roles"),
    ({"turns": [{"question": "q", "answer": "a"}], "images": [3]}, "vsfa", "bad_image_field"),
    ({"turns": [{"question": "q", "answer": "a"}], "images": ["a.png"], "modality": "smell"}, "vsfa", "bad_field"),
    ({"turns": [{"question": "<image><image>q", "answer": "a"}], "images": ["a.png"]}, "vsfa", "image_tags"),
    ({"turns": [{"question": "q", "answer": "a"}], "kind": "other"}, "rejection_mix", "bad_field"),
])
def test_parse_record_errors_carry_their_reason(obj, fmt, reason):
    with pytest.raises(RecordError) as err:
        parse_record(obj, fmt, "f:1")
    assert err.value.reason == reason


def test_rejected_rows_count_by_the_code(tmp_path):
    from vsfa_plugins.builders.outputs import Rejects

    rejects = Rejects(skip_bad=True)
    rejects.handle(BadRow("f:1: says 'image not found' but is about roles", "wrong_roles", LOC), LOC)
    rejects.handle(RecordError("f:2: something", "too_deep"), LOC)
    assert dict(rejects.by_reason()) == {"wrong_roles": 1, "too_deep": 1}


# --------------------------------------------------------------------------------------------------
# 3. decompression bombs, under every image check and every entry point
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, dims", [("bomb.png", "30000×30000"), ("bomb.pgm", "30000×30000")])
@pytest.mark.parametrize("check", ["header", "decode"])
def test_image_checker_refuses_bombs_from_the_header(bombs, name, dims, check):
    from vsfa_plugins.records.images import ImageChecker

    checker = ImageChecker([str(bombs)], check=check)
    with pytest.raises(BadRow, match=rf"src\.jsonl:3 \(row 2\) \(id=b\): image .*{name} has {dims} pixels, more than "
                                     rf"the limit 89,478,485") as err:
        checker.output_paths([name], LOC, "b")
    assert err.value.reason == "image_too_large"
    assert checker.output_paths(["ok0.png"], LOC, "g") == [str(bombs / "ok0.png")]


def test_pixel_limit_is_configurable(bombs, monkeypatch):
    from vsfa_plugins.records.images import ImageChecker

    monkeypatch.setenv("VSFA_MAX_IMAGE_PIXELS", "40")  # the good images are 8×6 = 48 pixels
    with pytest.raises(BadRow, match=r"has 8×6 pixels, more than the limit 40 \(VSFA_MAX_IMAGE_PIXELS\)"):
        ImageChecker([str(bombs)]).output_paths(["ok0.png"], LOC, None)
    monkeypatch.setenv("VSFA_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(RecordError, match=r"VSFA_MAX_IMAGE_PIXELS must be a positive whole number, got 'lots'"):
        ImageChecker([str(bombs)])


@pytest.mark.parametrize("check", ["header", "decode"])
@pytest.mark.parametrize("bomb", ["bomb.png", "bomb.pgm"])
def test_build_rejection_mix_rejects_bombs(bombs, tmp_path, check, bomb):
    from vsfa_plugins.builders.rejection_mix import build_rejection_mix

    rows = [source_row(f"g{i}", f"img/ok{i}.png") for i in range(4)] + [source_row("b", f"img/{bomb}")]
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RecordError, match=rf"src\.jsonl:5 \(row 4\) \(id=b\): image .*{bomb} has 30000×30000 pixels"):
        build_rejection_mix(str(src), str(src), str(tmp_path / "o1"), num_rejection=0, num_instruct=5,
                            check_images=check)
    res = build_rejection_mix(str(src), str(src), str(tmp_path / "o2"), num_rejection=0, num_instruct=5,
                              check_images=check, skip_bad=True)
    rejected = [json.loads(line) for line in Path(res.rejected).read_text().splitlines()]
    assert [(r["id"], r["reason"], r["line"]) for r in rejected] == [("b", "image_too_large", 5)]
    assert res.stats["rejected"]["by_reason"] == {"image_too_large": 1}


def test_build_vlguard_rejects_a_bomb(bombs, tmp_path):
    from vsfa_plugins.builders.vlguard import build_vlguard

    rows = [{"id": f"v{i}", "image": f"img/{name}", "safe": False, "harmful_category": "c",
             "instr-resp": [{"instruction": "q?", "response": "No."}]}
            for i, name in enumerate(["ok0.png", "bomb.png"])]
    train = tmp_path / "train.json"
    train.write_text(json.dumps(rows))
    res = build_vlguard(str(train), str(tmp_path / "out"), skip_bad=True)
    rejected = [json.loads(line) for line in Path(res.rejected).read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rejected] == [("v1", "image_too_large")]


def test_build_vsfa_images_dir_rejects_a_bomb(bombs, tmp_path):
    from vsfa_plugins.cli import main

    out = tmp_path / "out"
    assert main(["build-vsfa", "scenes", "images", "--images-dir", str(bombs), "--out", str(out)]) == 0
    records = {r["id"]: r for r in map(json.loads, (out / "images.jsonl").read_text().splitlines())}
    scenes = {r["id"]: os.path.basename(r["path"]) for r in map(json.loads, (out / "scenes.jsonl").read_text().splitlines())}
    by_name = {scenes[i]: r for i, r in records.items()}
    assert by_name["bomb.png"]["ok"] is False and by_name["bomb.png"]["reason"] == "image_too_large"
    assert "30000×30000 pixels" in by_name["bomb.png"]["message"]
    assert by_name["ok0.png"]["ok"] is True
    from vsfa_plugins.builders.vsfa.scenes import read_source_image

    with pytest.raises(RecordError, match=r"bomb\.pgm has 30000×30000 pixels") as err:  # (.pgm is not listed)
        read_source_image(str(bombs / "bomb.pgm"))
    assert err.value.reason == "image_too_large"


def test_render_typographic_refuses_a_bomb_scene(bombs, tmp_path, capsys):
    from vsfa_plugins.builders.typographic import plan_mmsb, read_questions
    from vsfa_plugins.cli import main

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "How to x?", "key_phrase": "x", "scenario": "01",
                                     "image": "img/ok0.png"}) + "\n"
                         + json.dumps({"question": "How to y?", "key_phrase": "y", "scenario": "01",
                                       "image": "img/bomb.pgm"}) + "\n")
    with pytest.raises(RecordError, match=r"q\.jsonl:2: image .*bomb\.pgm has 30000×30000 pixels, more than the limit") as err:
        plan_mmsb(read_questions(str(questions)), str(tmp_path))
    assert err.value.reason == "image_too_large"
    assert main(["render-typographic", "--questions", str(questions), "--out", str(tmp_path / "out"),
                 "--style", "mmsb"]) == 1
    assert "has 30000×30000 pixels" in capsys.readouterr().err


def test_vsfa_validate_refuses_bombs(bombs, capsys):
    from vsfa_plugins.cli import main

    data = bombs / "d.json"
    data.write_text(json.dumps([vsfa_row("g", "ok0.png"), vsfa_row("b", "bomb.png"), vsfa_row("p", "bomb.pgm")], indent=1))
    assert main(["validate", str(data), "--format", "vsfa"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"d\.json:\d+ \(row 1\) \(id=b\): image .*bomb\.png has 30000×30000 pixels", err), err
    assert "bomb.pgm has 30000×30000 pixels" in err


# --------------------------------------------------------------------------------------------------
# 4. `vsfa validate` checks images like the builders
# --------------------------------------------------------------------------------------------------


@pytest.fixture()
def hostile_images(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    real_png(data / "ok.png")
    good = (data / "ok.png").read_bytes()
    (data / "cut.png").write_bytes(good[: len(good) // 2])  # an interrupted download
    (data / "empty.png").write_bytes(b"")
    outside = tmp_path / "outside"
    outside.mkdir()
    real_png(outside / "secret.png")
    os.symlink(outside / "secret.png", data / "link.png")
    return data


@pytest.mark.parametrize("image, reason, message", [
    ("/etc/passwd", "corrupt_image", r"not an image"),
    ("link.png", "path_escape", r"resolves to .*outside.*secret\.png, outside the dataset folder"),
    ("empty.png", "corrupt_image", r"empty\.png \(the file is empty\)"),
    ("cut.png", "corrupt_image", r"cut\.png"),
])
def test_validate_rejects_what_the_builders_reject(hostile_images, image, reason, message):
    from vsfa_plugins.records.images import ImageChecker

    data = hostile_images / "d.json"
    data.write_text(json.dumps([vsfa_row("g", "ok.png"), vsfa_row("x", image)]))
    with pytest.raises(RecordError, match=r"d\.json:1 \(row 1\) \(id=x\): .*" + message) as err:
        validate_file(str(data), "vsfa")
    assert err.value.reason == reason
    with pytest.raises(BadRow, match=message) as built:  # the builders' checker says the same
        ImageChecker([str(hostile_images)]).output_paths([image], LOC, "x")
    assert built.value.reason == reason


def test_symlink_escape_is_allowed_when_asked(hostile_images, monkeypatch):
    from vsfa_plugins.cli import main

    data = hostile_images / "d.json"
    data.write_text(json.dumps([vsfa_row("l", "link.png")]))
    assert main(["validate", str(data), "--format", "vsfa"]) == 1
    monkeypatch.setenv("VSFA_ALLOW_PATH_ESCAPE", "1")
    assert main(["validate", str(data), "--format", "vsfa"]) == 0


# --------------------------------------------------------------------------------------------------
# 5. huge numbers and deep nesting
# --------------------------------------------------------------------------------------------------

BIG_NUMBER = "9" * 5001
DEEP = "[" * 100_000 + "]" * 100_000


def _every_reader(path: Path):
    yield "iter_json_rows", lambda: list(iter_json_rows(path))
    yield "scan_rows", lambda: [s for s in scan_rows(path) if s.error is None or (_ for _ in ()).throw(s.error)]
    yield "validate_file", lambda: validate_file(str(path), "vsfa", check_images=False)


@pytest.mark.parametrize("value, reason", [(BIG_NUMBER, "number_too_long"), (DEEP, "too_deep")])
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_huge_numbers_and_deep_nesting_are_record_errors_naming_the_line(tmp_path, value, reason, suffix):
    path = tmp_path / f"d{suffix}"
    good = json.dumps(vsfa_row("g", "a.png"))
    if suffix == ".json":
        path.write_text(f'[\n{good},\n{{"id": "b",\n "x": {value}}}\n]\n')
        line = 4
    else:
        path.write_text(f'{good}\n{{"id": "b", "x": {value}}}\n')
        line = 2
    for name, read in _every_reader(path):
        with pytest.raises(RecordError, match=rf"d{suffix}:{line}\b") as err:
            read()
        assert err.value.reason == reason, name
        assert not isinstance(err.value.__cause__, (RecursionError,)) and len(str(err.value)) < 500, name


@pytest.mark.parametrize("value, reason", [(BIG_NUMBER, "number_too_long"), (DEEP, "too_deep")])
def test_read_json_document_names_the_line_too(tmp_path, value, reason):
    path = tmp_path / "dataset_info.json"
    path.write_text('{\n "a": {"file_name": "a.json"},\n "b": ' + value + "\n}\n")
    with pytest.raises(RecordError, match=r"dataset_info\.json:3\b") as err:
        read_json_document(path)
    assert err.value.reason == reason


def test_skip_bad_rejects_a_deep_jsonl_row(tmp_path):
    from vsfa_plugins.builders.rejection_mix import build_rejection_mix

    rows = [json.dumps({"id": f"g{i}", "conversations": [{"from": "human", "value": "q?"}, {"from": "gpt", "value": "a"}]})
            for i in range(3)]
    src = tmp_path / "s.jsonl"
    src.write_text("\n".join(rows[:1] + ['{"id": "d", "x": ' + DEEP + "}", '{"id": "n", "x": ' + BIG_NUMBER + "}"]
                             + rows[1:]) + "\n")
    res = build_rejection_mix(str(src), str(src), str(tmp_path / "out"), num_rejection=1, num_instruct=2, skip_bad=True)
    reasons = sorted({(r["line"], r["reason"]) for r in map(json.loads, Path(res.rejected).read_text().splitlines())})
    assert reasons == [(2, "too_deep"), (3, "number_too_long")]


# --------------------------------------------------------------------------------------------------
# 6. an early malformed row in a big array is reported at once, with bounded memory
# --------------------------------------------------------------------------------------------------

_PROBE = r"""
import json, sys, time
path, how = sys.argv[1], sys.argv[2]
def rchar():
    with open("/proc/self/io") as f:
        return int(next(l for l in f if l.startswith("rchar:")).split()[1])
def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child of a big pytest process
    # would report its parent's peak
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1]) / 1024
from vsfa_plugins.records import RecordError, iter_json_rows, validate_file
from vsfa_plugins.records.scan import scan_rows
before, t = rchar(), time.perf_counter()
try:
    if how == "validate":
        validate_file(path, "vsfa")
    elif how == "iter":
        list(iter_json_rows(path))
    else:
        list(scan_rows(path))
    message = "no error"
except RecordError as err:
    message = str(err)
print(json.dumps({"read": rchar() - before, "s": time.perf_counter() - t, "message": message,
                  "rss_mb": peak_rss_mb()}))
"""


@pytest.fixture(scope="module")
def big_array_with_early_error(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.json"
    filler = json.dumps(vsfa_row("f", "a.png")) + ",\n"
    with open(path, "w") as f:
        f.write('[{"id": "a"},\n {"id": "b",, "x": 1},\n')  # the second row is malformed at byte 26
        block = filler * 4096
        while f.tell() < 50 << 20:
            f.write(block)
        f.write('{"id": "z"}]\n')
    return path


@pytest.mark.parametrize("how", ["validate", "iter", "scan"])
def test_early_malformed_row_is_reported_without_reading_the_file(big_array_with_early_error, how):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(big_array_with_early_error), how], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["message"].startswith(f"{big_array_with_early_error}:2: malformed JSON"), got
    assert got["read"] < 12 << 20, got  # a block or two of the 50 MB file
    assert got["rss_mb"] < 120, got
    assert got["s"] < 2, got


# --------------------------------------------------------------------------------------------------
# 7. non-UTF-8 bytes in a .json array name their line in every reader
# --------------------------------------------------------------------------------------------------


def test_non_utf8_in_a_json_array_names_the_line(tmp_path):
    path = tmp_path / "d.json"
    path.write_bytes(b'[\n{"a": 1},\n{"a": 2},\n{"a": "\xff\xfe"}\n]\n')
    for name, read in list(_every_reader(path)) + [("read_json_document", lambda: read_json_document(path))]:
        with pytest.raises(RecordError, match=r"d\.json:4: not valid UTF-8") as err:
            read()
        assert err.value.reason == "non_utf8", name


def test_non_utf8_in_text_inputs_names_the_line(tmp_path):
    """Every other text reader (question lists, captions CSV, lexicon, benchmark CSV / JSON, report inputs)
    names the line too, not an offset into a read buffer."""
    from vsfa_plugins.builders.typographic import read_questions
    from vsfa_plugins.builders.vsfa.filters import Lexicon
    from vsfa_plugins.builders.vsfa.scenes import read_captions
    from vsfa_plugins.benchmarks.release import BenchmarkDataError, read_csv, read_json
    from vsfa_plugins.report.collect import ReportInputError, load_json_object

    csv_bytes = b"question,category\nWhat is this?,a\nWhy \xff?,b\n"
    (tmp_path / "q.csv").write_bytes(csv_bytes)
    (tmp_path / "c.csv").write_bytes(b"image,caption\na.png,one\nb.png,tw\xc3\n")
    (tmp_path / "lex.txt").write_bytes(b"bomb\nweapon\n\xe9xplosive\n")
    (tmp_path / "b.json").write_bytes(b'{\n "a": 1,\n "b": "\xff"\n}\n')
    cases = [
        (RecordError, r"q\.csv:3: not valid UTF-8", lambda: read_questions(str(tmp_path / "q.csv"))),
        (RecordError, r"c\.csv:3: not valid UTF-8", lambda: read_captions(str(tmp_path / "c.csv"), str(tmp_path))),
        (RecordError, r"lex\.txt:3: not valid UTF-8", lambda: Lexicon.from_file(tmp_path / "lex.txt")),
        (BenchmarkDataError, r"q\.csv:3: not valid UTF-8", lambda: read_csv(tmp_path / "q.csv", tmp_path, ("question",))),
        (BenchmarkDataError, r"b\.json:3: not valid UTF-8", lambda: read_json(tmp_path / "b.json", tmp_path)),
        (ReportInputError, r"b\.json:3: not valid UTF-8", lambda: load_json_object(tmp_path / "b.json")),
    ]
    for error, pattern, read in cases:
        with pytest.raises(error, match=pattern):
            read()


# --------------------------------------------------------------------------------------------------
# 8. dead code out
# --------------------------------------------------------------------------------------------------


def test_dead_code_is_gone():
    from vsfa_plugins.records import reader

    assert not hasattr(reader, "count_rows")
    for path in (ROOT / "vsfa_plugins").rglob("*.py"):
        text = path.read_text()
        assert "REASONS" not in text and "reason_of" not in text, path


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("WEBP", "webp"),
                                      ("PPM", "ppm"), ("TIFF", "tif")])
def test_header_sizes_match_pil_for_every_format(tmp_path, fmt, ext):
    from vsfa_plugins.records.images import inspect_image

    path = tmp_path / f"x.{ext}"
    Image.new("RGB", (37, 23), "blue").save(path, format=fmt)
    assert inspect_image(str(path), 10**6) == (37, 23)
    with pytest.raises(Exception, match=r"has 37×23 pixels, more than the limit 100"):
        inspect_image(str(path), 100)


def test_a_jpeg_claiming_30000_squared_is_refused_before_decoding(tmp_path):
    from vsfa_plugins.records.images import ImageChecker

    Image.new("RGB", (16, 16), "green").save(tmp_path / "ok.jpg", quality=90)
    data = bytearray((tmp_path / "ok.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 30000, 30000)
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    with pytest.raises(BadRow, match=r"bomb\.jpg has 30000×30000 pixels") as err:
        ImageChecker([str(tmp_path)], check="decode").output_paths(["bomb.jpg"], LOC, None)
    assert err.value.reason == "image_too_large"
