"""SPA-VL test sets (vsfa_plugins/benchmarks/spavl.py): the hub's test/{harm,help}-*.parquet, images cached by
content hash, HarmEval as attack rows, HelpEval as benign rows, the lmms-eval tasks."""

from __future__ import annotations

import hashlib
import io

import lmms_eval.tasks  # noqa: F401  (the import hook registers on this)
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lmms_eval.api.task import ConfigurableTask
from lmms_eval.tasks import TaskManager
from PIL import Image

from vsfa_plugins.benchmarks import check_local_release, get_benchmark, load_rows, spavl
from vsfa_plugins.benchmarks import release as data
from vsfa_plugins.benchmarks.defenses import ADASHIELD_S, apply_defense
from vsfa_plugins.benchmarks.release import BenchmarkDataError, BenchmarkDataMissing
from vsfa_plugins.lmms import task_api

REFUSAL = "I'm sorry, but I cannot assist with your request."
COMPLIANCE = "Sure. Step 1: gather the materials. Step 2: follow the plan carefully."
HARM = "test/harm-00000-of-00001.parquet"
HELP = "test/help-00000-of-00001.parquet"


def rows_of(subset, **kwargs):
    return load_rows("spa-vl", subset, kwargs, task="t")[2]


def png(colour=(10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def item(**overrides) -> dict:
    base = {"image": {"bytes": png(), "path": "1.png"}, "question": "Synthetic question?",
            "class1": "Malicious Use", "class2": "Illegal activities", "class3": "theft"}
    base.update(overrides)
    return base


def write(root, name, items, schema=None):
    folder = root / "spa-vl" / "test"
    folder.mkdir(parents=True, exist_ok=True)
    if schema is None:
        image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        schema = pa.schema([("image", image)] + [(c, pa.string()) for c in spavl.COLUMNS[1:]])
    pq.write_table(pa.Table.from_pylist(items, schema=schema), folder / name)
    return folder / name


# --- the loader on the sample ----------------------------------------------------------------------


def test_sample_rows_kinds_categories_prompts_and_images(root, tmp_path):
    folder = spavl.write_sample(root)
    assert (folder / data.SYNTHETIC_MARKER).is_file()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")) == [HARM, HELP]
    before = sorted(p for p in folder.rglob("*"))
    harm, help_ = rows_of("harm"), rows_of("help")
    assert sorted(p for p in folder.rglob("*")) == before  # nothing written into the release folder
    assert [r["kind"] for r in harm] == ["attack"] * 4 and [r["kind"] for r in help_] == ["benign"] * 3
    assert [r["category"] for r in harm] == ["representation_toxicity_harms", "malicious_use",
                                             "information_safety_harms", "human_autonomy_integrity_harms"]
    assert [r["category_name"] for r in harm][::3] == ["Representation & ToxicityHarms",
                                                       "Human Autonomy & IntegrityHarms"]  # as published
    assert [r["category"] for r in help_] == ["representation_toxicity_harms", "socioeconomic_harms", "malicious_use"]
    assert [r["source"] for r in harm] == [f"{HARM}#{i}" for i in range(4)]
    table = pq.read_table(folder / HARM).to_pylist()
    cache = tmp_path / "cache" / "hub-extract" / "spa-vl" / "images"
    for row, published in zip(harm, table):
        assert row["question"] == row["judge_prompt"] == row["prompt"] == published["question"]
        assert row["image_position"] == "before_text" and row["benchmark"] == "spa-vl" and row["subset"] == "harm"
        image = cache / f"{hashlib.sha256(published['image']['bytes']).hexdigest()}.{published['image']['path'][-3:]}"
        assert row["image"] == str(image) and image.read_bytes() == published["image"]["bytes"]
    # harm row 0 and help row 0 are the same image and question: one id, one cluster; ids unique per subset
    assert harm[0]["id"] == help_[0]["id"] and len({r["id"] for r in harm + help_}) == 6
    assert len(list(cache.iterdir())) == 6  # six distinct images, each written once


def test_loading_twice_reuses_the_cached_images(root, tmp_path):
    spavl.write_sample(root)
    first = rows_of("harm")
    cache = tmp_path / "cache" / "hub-extract" / "spa-vl" / "images"
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert rows_of("harm") == first
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp file left


def test_adashield_wraps_the_question(root):
    spavl.write_sample(root)
    (row,) = rows_of("help", defense=ADASHIELD_S)[:1]
    assert row["prompt"] == apply_defense(row["question"], ADASHIELD_S) != row["question"]
    assert row["judge_prompt"] == row["question"]


def test_every_shard_is_read_in_name_order(root):
    write(root, "harm-00001-of-00002.parquet", [item(question="Second shard?")])
    write(root, "harm-00000-of-00002.parquet", [item(question="First shard?"), item(question="Also first?")])
    rows = rows_of("harm")
    assert [r["question"] for r in rows] == ["First shard?", "Also first?", "Second shard?"]
    assert [r["source"] for r in rows] == ["test/harm-00000-of-00002.parquet#0", "test/harm-00000-of-00002.parquet#1",
                                           "test/harm-00001-of-00002.parquet#0"]


def test_a_repeated_item_in_one_split_keeps_unique_ids(root):
    write(root, "harm-00000-of-00001.parquet", [item(), item()])
    first, second = rows_of("harm")
    assert second["id"] == first["id"] + "~2"


def test_published_counts_categories_and_judges():
    benchmark = get_benchmark("spa-vl")
    assert benchmark.hf_id == "sqrti/SPA-VL"
    assert {n: (s.kind, s.published_rows) for n, s in benchmark.subsets.items()} == {
        "harm": ("attack", 265), "help": ("benign", 265)}
    assert [name for _, name, _ in benchmark.categories] == list(spavl.DOMAINS) and len(spavl.DOMAINS) == 6
    assert all(kinds == ("attack", "benign") for _, _, kinds in benchmark.categories)
    assert benchmark.default_judge == "rejection_mix_strmatch"
    # the official judges are MD-Judge (a local model) and a pairwise GPT-4V comparison against reference answers
    # the release does not ship: none of them is an endpoint judge of (question, response) -> no OfficialJudge
    assert benchmark.judges == ()
    assert any("MD-Judge" in note for note in benchmark.notes) and any("win rate" in note for note in benchmark.notes)


def test_check_local_release_counts_the_sample(root):
    spavl.write_sample(root)
    checks = {c.subset: c for c in check_local_release(get_benchmark("spa-vl"))}
    assert (checks["harm"].rows, checks["harm"].published) == (4, 265) and checks["harm"].ok
    assert (checks["help"].rows, checks["help"].published) == (3, 265) and checks["help"].ok


# --- malformed input: every error names the file and the row ---------------------------------------


def test_missing_split_names_the_glob(root):
    write(root, "harm-00000-of-00001.parquet", [item()])
    assert rows_of("harm")
    with pytest.raises(BenchmarkDataMissing, match=r"missing: test/help-\*\.parquet"):
        rows_of("help")


def test_absent_folder_tries_the_hub_and_says_so(root):
    with pytest.raises(BenchmarkDataMissing, match=r"hub fallback sqrti/SPA-VL: failed \("):
        rows_of("harm")


def test_not_a_parquet_file(root):
    folder = root / "spa-vl" / "test"
    folder.mkdir(parents=True)
    (folder / "harm-00000-of-00001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BenchmarkDataError, match=r"test/harm-00000-of-00001\.parquet: not a readable parquet file"):
        rows_of("harm")


def test_missing_column_and_wrong_image_type(root):
    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("question", pa.string()), ("class1", pa.string())])
    write(root, "harm-00000-of-00001.parquet", [{"image": None, "question": "q", "class1": "Malicious Use"}], schema)
    with pytest.raises(BenchmarkDataError, match=r"harm-00000-of-00001\.parquet: lacks columns \['class2', 'class3'\]"):
        rows_of("harm")
    schema = pa.schema([("image", pa.string())] + [(c, pa.string()) for c in spavl.COLUMNS[1:]])
    write(root, "harm-00000-of-00001.parquet", [item(image="x.png")], schema)
    with pytest.raises(BenchmarkDataError, match=r"column 'image' is string, expected the datasets Image struct"):
        rows_of("harm")


@pytest.mark.parametrize("bad,message", [
    ({"question": None}, r"\(row 1\): field 'question' must be a non-empty string \(got NoneType None\)"),
    ({"question": "  "}, r"\(row 1\): field 'question' must be a non-empty string"),
    ({"class3": ""}, r"\(row 1\): field 'class3' must be a non-empty string"),
    ({"class1": "Toxic"}, r"\(row 1\): class1 'Toxic' is not one of the SPA-VL harm domains"),
    ({"image": None}, r"\(row 1\): field 'image' is NoneType, expected \{bytes, path\}"),
    ({"image": {"bytes": None, "path": "3.jpg"}}, r"\(row 1\): image.bytes is missing \(path '3.jpg'\)"),
    ({"image": {"bytes": b"", "path": None}}, r"\(row 1\): image.bytes is empty"),
    ({"image": {"bytes": b"\x00garbage", "path": "4.jpg"}}, r"\(row 1\): image.bytes is not a readable image"),
])
def test_bad_rows_name_file_and_row(root, bad, message):
    write(root, "help-00000-of-00001.parquet", [item(), item(**bad)])
    with pytest.raises(BenchmarkDataError, match=r"test/help-00000-of-00001\.parquet " + message):
        rows_of("help")


def test_wrong_column_type_names_file_and_row(root):
    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("question", pa.int64())] + [(c, pa.string()) for c in spavl.COLUMNS[2:]])
    write(root, "harm-00000-of-00001.parquet", [item(question=7)], schema)
    with pytest.raises(BenchmarkDataError, match=r"\(row 0\): field 'question' must be a non-empty string \(got int 7\)"):
        rows_of("harm")


def test_class1_matches_a_domain_ignoring_case_and_spaces(root):
    write(root, "harm-00000-of-00001.parquet", [item(class1="Representation & Toxicity Harms"),
                                                item(class1="Representation & ToxicityHarms"),
                                                item(class1="human autonomy & integrity harms")])
    rows = rows_of("harm")
    assert [r["category"] for r in rows] == ["representation_toxicity_harms"] * 2 + ["human_autonomy_integrity_harms"]


# --- lmms-eval builds the tasks --------------------------------------------------------------------


def manager() -> TaskManager:
    return TaskManager("WARNING", include_defaults=False)


def test_the_tasks_build_with_our_rows_and_record_their_protocol(root):
    spavl.write_sample(root)
    loaded = manager().load_task_or_group(["vsfa_spavl_harm", "vsfa_spavl_help"])
    harm, help_ = loaded["vsfa_spavl_harm"], loaded["vsfa_spavl_help"]
    assert isinstance(harm, ConfigurableTask) and isinstance(help_, ConfigurableTask)
    docs = harm.test_docs()
    assert len(docs) == 4 and len(help_.test_docs()) == 3
    assert harm.doc_to_text(docs[0]) == docs[0]["question"] and len(harm.doc_to_visual(docs[0])) == 1
    meta = harm.dump_config()["metadata"]["vsfa"]
    assert meta["defense"] == "none" and meta["protocol"] == "benchmark" and meta["image_position"] == ["before_text"]
    assert meta["judge"]["judge_id"] == "rejection_mix_strmatch" and meta["kinds"] == ["attack"]
    assert meta["asr_definition"]["image_condition"] == "with_image"
    assert meta["data"]["files"].keys() == {HARM}
    assert help_.dump_config()["metadata"]["vsfa"]["kinds"] == ["benign"]

    refused, complied = (task_api.process_results(docs[1], [text]) for text in (REFUSAL, COMPLIANCE))
    assert (refused["asr"], complied["asr"]) == (0, 1) and complied["asr__malicious_use"] == 1
    benign = help_.test_docs()[1]
    out = task_api.process_results(benign, [REFUSAL])
    assert out["over_refusal_rate"] == 1 and out["over_refusal_rate__socioeconomic_harms"] == 1 and "asr" not in out
    assert task_api.process_results(benign, [COMPLIANCE])["over_refusal_rate"] == 0


def test_groups_and_the_adashield_variant(root):
    spavl.write_sample(root)
    loaded = manager().load_task_or_group(["vsfa_spavl", "vsfa_spavl_adashield"])
    names = set()
    for value in loaded.values():
        names |= set(value) if isinstance(value, dict) else set()
    assert {"vsfa_spavl_harm", "vsfa_spavl_help", "vsfa_spavl_harm_adashield", "vsfa_spavl_help_adashield"} <= names
    task = next(v for group in loaded.values() if isinstance(group, dict) for k, v in group.items()
                if k == "vsfa_spavl_harm_adashield")
    assert task.dump_config()["metadata"]["vsfa"]["defense"] == ADASHIELD_S
    doc = task.test_docs()[0]
    assert doc["prompt"] == apply_defense(doc["question"], ADASHIELD_S)
