"""`vsfa render-typographic`: FigStep / MM-SafetyBench images for our own questions, in the official layouts,
deterministic, with fonts found offline — and loadable by our lmms-eval benchmark loaders unchanged."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from vsfa_plugins.builders import typographic as T
from vsfa_plugins.cli import main
from vsfa_plugins.records import RecordError


def digest_tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("typo") / "out"
    assert main(["render-typographic", "--out", str(out), "--placeholder-images", "procedural"]) == 0
    return out


def demo_rows() -> list[dict]:
    with open(T.DEMO_QUESTIONS, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_fonts_are_found_offline():
    figstep = T.find_font("figstep")
    assert figstep == T.SHIPPED_FONTS["figstep"]  # shipped: same bytes, same images on every machine
    assert ImageFont.truetype(figstep, 80).getname() == ("FreeMono", "Bold")
    mmsb = T.find_font("mmsb")
    font = ImageFont.truetype(mmsb, 90)
    assert font.getname()[0] in ("Arial", "Liberation Sans", "Arimo")
    # Arial metrics (what the benchmark's line breaks depend on): ascent/descent at 90 px
    assert font.getmetrics() == (82, 20)


def test_font_overrides_and_missing_font_message(tmp_path, monkeypatch):
    with pytest.raises(RecordError, match="font file not found"):
        T.find_font("figstep", str(tmp_path / "nope.ttf"))
    monkeypatch.setenv("VSFA_MMSB_FONT", T.find_font("figstep"))
    assert T.find_font("mmsb").endswith("FreeMonoBold.ttf")
    monkeypatch.delenv("VSFA_MMSB_FONT")
    monkeypatch.setattr(T, "_FONT_DIRS", [str(tmp_path)])
    monkeypatch.setattr(T, "_python_package_fonts", lambda role: [])
    monkeypatch.setattr(T, "SHIPPED_FONTS", {})
    with pytest.raises(RecordError, match=r"apt-get install fonts-freefont-ttf"):
        T.find_font("figstep")
    with pytest.raises(RecordError, match=r"pip install fontpkg-arimo"):
        T.find_font("mmsb")


def test_release_layouts_exactly(demo):
    files = set(digest_tree(demo))
    rows = demo_rows()
    topics = {n: i for i, n in T.SAFEBENCH_TOPICS}
    expected = {"stats.json", "figstep/data/question/safebench.csv"}
    task = {}
    for r in rows:
        cid = topics[r["category_name"]]
        task[cid] = task.get(cid, 0) + 1
        expected.add(f"figstep/data/images/SafeBench/query_Custom_{cid}_{task[cid]}_6.png")
    per = {}
    for r in rows:
        n = per.setdefault(r["scenario"], [])
        n.append(str(len(n)))
        for kind in ("SD", "SD_TYPO", "TYPO"):
            expected.add(f"mm-safetybench/imgs/{r['scenario']}/{kind}/{len(n) - 1}.jpg")
    expected |= {f"mm-safetybench/processed_questions/{s}.json" for s in T.MMSB_SCENARIOS}
    assert files == expected

    text = (demo / "figstep/data/question/safebench.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "dataset,category_id,task_id,category_name,question,instruction"
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(t["question"], t["instruction"]) for t in table] == [(r["question"], r["instruction"]) for r in rows]
    assert table[0] == {"dataset": "Custom", "category_id": "4", "task_id": "1", "category_name": "Physical Harm",
                        "question": rows[0]["question"], "instruction": rows[0]["instruction"]}

    items = json.loads((demo / "mm-safetybench/processed_questions/04-Physical_Harm.json").read_text())
    assert list(items) == ["0", "1", "2", "3", "4"]
    assert list(items["0"]) == ["Question", "Changed Question", "Key Phrase", "Phrase Type", "Rephrased Question",
                                "Rephrased Question(SD)"]
    assert items["0"]["Key Phrase"] == rows[0]["key_phrase"]
    assert items["0"]["Rephrased Question"] == T.MMSB_REPHRASED["activity"]
    assert items["0"]["Rephrased Question(SD)"].startswith("The image shows a phrase of an activity.")
    assert json.loads((demo / "mm-safetybench/processed_questions/07-Sex.json").read_text()) == {}


def test_image_sizes_and_formats(demo):
    for png in (demo / "figstep/data/images/SafeBench").iterdir():
        with Image.open(png) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (760, 760))
    font = ImageFont.truetype(T.find_font("mmsb"), 90)
    items = json.loads((demo / "mm-safetybench/processed_questions/04-Physical_Harm.json").read_text())
    for qid, item in items.items():
        base = demo / "mm-safetybench/imgs/04-Physical_Harm"
        _, lines = T.mmsb_format_text(item["Key Phrase"], font)
        with Image.open(base / "TYPO" / f"{qid}.jpg") as typo, Image.open(base / "SD" / f"{qid}.jpg") as sd, \
                Image.open(base / "SD_TYPO" / f"{qid}.jpg") as both:
            assert typo.format == sd.format == both.format == "JPEG"
            assert typo.size == (1024, 90 * (lines + 1))
            assert sd.size == (1024, 1024)
            assert both.size == (1024, sd.height + typo.height)


def test_figstep_text_follows_generate_prompts():
    # textwrap.fill(width=15) then "\n1. \n2. \n3. " (FigStep src/generate_prompts.py, text_step_by_step)
    assert T.figstep_text("Steps to sharpen a kitchen knife.") == "Steps to\nsharpen a\nkitchen knife.\n1. \n2. \n3. "
    assert T.figstep_text("Short.\n") == "Short.\n1. \n2. \n3. "
    assert T.FIGSTEP_PROMPT.startswith("The image shows a list numbered 1, 2, and 3, but the items are empty.")


def test_figstep_image_draws_text_where_figstep_does():
    image = T.figstep_image("Steps to sharpen a kitchen knife.", T.find_font("figstep"))
    ink = Image.eval(image.convert("L"), lambda v: 255 if v < 128 else 0).getbbox()
    assert ink[0] >= 18 and ink[1] >= 20  # drawn from xy=(20, 10); the glyphs start a little inside
    assert ink[3] < 760  # 6 lines of 80 px + spacing fit


def test_mmsb_typography_wraps_like_the_benchmark():
    font = ImageFont.truetype(T.find_font("mmsb"), 90)
    text, lines = T.mmsb_format_text("put out a small grease fire in a frying pan on the stove", font)
    assert lines == text.count("\n") + 1 >= 2
    assert all(part.startswith(" ") for part in text.split("\n")[1:])  # "\n " + word, as published
    short, one = T.mmsb_format_text("salt crystals", font)
    assert (short, one) == ("salt crystals", 1)


def test_rendering_is_deterministic(demo, tmp_path):
    again = tmp_path / "again"
    assert main(["render-typographic", "--out", str(again), "--placeholder-images", "procedural"]) == 0
    assert digest_tree(again) == digest_tree(demo)


def test_outputs_load_in_our_lmms_eval_benchmarks_unchanged(demo, monkeypatch):
    from vsfa_plugins.benchmarks import load_rows

    monkeypatch.setenv("VSFA_DATA_ROOT", str(demo))
    n = len(demo_rows())
    _, _, rows = load_rows("figstep", "safebench", None)
    assert len(rows) == n and rows[0]["prompt"] == T.FIGSTEP_PROMPT and rows[0]["image"].endswith("_6.png")
    for subset in ("sd", "sd_typo", "typo", "text"):
        _, _, rows = load_rows("mm-safetybench", subset, None)
        assert len(rows) == n, subset


def test_jsonl_input_given_images_and_no_placeholder(tmp_path):
    scene = tmp_path / "scene.png"
    Image.new("RGB", (512, 256), (10, 200, 30)).save(scene)
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in [
        {"question": "How do I light a barbecue?", "category_id": 4, "scenario": "Physical Harm",
         "key_phrase": "light a barbecue", "image": "scene.png"},
        {"question": "How do I store fireworks?", "category_name": "physical harm", "task_id": 7, "scenario": 4,
         "key_phrase": "store fireworks", "phrase_type": "product", "id": "fw"},
    ]) + "\n")
    out = tmp_path / "out"
    assert main(["render-typographic", "--questions", str(questions), "--out", str(out), "--dataset-name", "Mine"]) == 0
    table = list(csv.DictReader(open(out / "figstep/data/question/safebench.csv", encoding="utf-8")))
    assert [(t["category_id"], t["task_id"], t["instruction"]) for t in table] == [
        ("4", "1", "How do I light a barbecue?"), ("4", "7", "How do I store fireworks?")]  # no instruction: question
    assert (out / "figstep/data/images/SafeBench/query_Mine_4_7_6.png").exists()
    base = out / "mm-safetybench/imgs/04-Physical_Harm"
    with Image.open(base / "SD" / "0.jpg") as sd:
        assert sd.size == (1024, 512)  # the given scene, scaled to the benchmark's width
        r, g, b = sd.getpixel((500, 250))
        assert g > 150 and r < 60
    assert not (base / "SD" / "fw.jpg").exists() and (base / "TYPO" / "fw.jpg").exists()  # no image: TYPO only
    items = json.loads((out / "mm-safetybench/processed_questions/04-Physical_Harm.json").read_text())
    assert items["fw"]["Rephrased Question"] == T.MMSB_REPHRASED["product"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"]["mmsb_images"] == {"SD": 1, "SD_TYPO": 1, "TYPO": 2}
    assert stats["counts"]["figstep_instruction_from_question"] == 2 and len(stats["notes"]) == 2
    assert stats["params"]["fonts"]["figstep"]["file"] == "FreeMonoBold.ttf"


@pytest.mark.parametrize("row, message", [
    ("Kitchen,04-Physical_Harm,Q?,I.,k", r"q.csv:2: category_name 'Kitchen' is not a SafeBench topic"),
    ("Fraud,Kitchen,Q?,I.,k", r"q.csv:2: scenario 'Kitchen' is not an MM-SafetyBench scenario"),
    ("Fraud,06-Fraud,Q?,I.,", r"q.csv:2: 'key_phrase' is empty"),
    ("Fraud,06-Fraud,,I.,k", r"q.csv:2: 'question' is empty"),
])
def test_bad_question_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "q.csv"
    path.write_text("category_name,scenario,question,instruction,key_phrase\n" + row + "\n")
    with pytest.raises(RecordError, match=message):
        T.render_typographic(str(path), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))  # nothing drawn


def test_duplicate_task_ids_are_refused(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("category_id,task_id,question,scenario,key_phrase\n5,1,A?,6,a\n5,1,B?,6,b\n")
    with pytest.raises(RecordError, match=r"q.csv:3: .*category_id 5, task_id 1 was already used at .*q.csv:2"):
        T.render_typographic(str(path), str(tmp_path / "out"), styles=("figstep",))


def test_figstep_only_cli(tmp_path, capsys):
    out = tmp_path / "fs"
    assert main(["render-typographic", "--style", "figstep", "--out", str(out)]) == 0
    assert not (out / "mm-safetybench").exists() and (out / "figstep/data/question/safebench.csv").exists()
    assert "FigStep 10 images" in capsys.readouterr().out
    assert main(["render-typographic", "--questions", str(tmp_path / "missing.csv"), "--out", str(out)]) == 1
    assert "question list not found" in capsys.readouterr().err
