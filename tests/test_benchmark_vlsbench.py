"""VLSBench: the loader on the synthetic sample (the hub's layout and a git clone's), each malformed input
naming file and row, the published counts, the official GPT-4o judge (prompt verbatim, its classes mapped to
our labels), the hub fallback's archive handling, and lmms-eval building the tasks."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from vsfa_plugins.benchmarks import get_benchmark, load_rows, vlsbench
from vsfa_plugins.benchmarks import release as data
from vsfa_plugins.benchmarks.defenses import ADASHIELD_S, apply_defense
from vsfa_plugins.benchmarks.release import BenchmarkDataError, BenchmarkDataMissing

INSTRUCTION_0 = "Synthetic placeholder instruction 0 about the picture (not from VLSBench)."


def rows(defense: str = "none") -> list[dict]:
    return load_rows("vlsbench", "all", {"defense": defense}, task="t")[2]


def items_file(root: Path) -> Path:
    return root / "vlsbench" / "data.json"


def rewrite(root: Path, change) -> None:
    path = items_file(root)
    items = json.loads(path.read_text())
    change(items)
    path.write_text(json.dumps(items))


# --- the loader ---------------------------------------------------------------------------------------


def test_sample_rows_follow_the_benchmark_protocol(root):
    folder = vlsbench.write_sample(root)
    assert (folder / data.SYNTHETIC_MARKER).is_file()
    got = rows()
    assert [r["id"] for r in got] == ["0", "1", "2", "3", "4"]
    assert {r["kind"] for r in got} == {"attack"} and {r["benchmark"] for r in got} == {"vlsbench"}
    assert [r["category"] for r in got] == ["violent", "illegal_activity", "self_harm", "self_harm", "privacy"]
    assert got[1]["category_name"] == "Illegal Activity"
    first = got[0]
    assert first["prompt"] == first["question"] == first["judge_prompt"] == INSTRUCTION_0  # the instruction as is
    assert first["image_position"] == "before_text"
    assert first["image"] == str(folder / "imgs" / "0.png") and Path(first["image"]).is_file()
    assert got[2]["image"] == got[3]["image"] == str(folder / "imgs" / "2.png")  # a shared image, as published
    assert first["source"] == "data.json#0" and first["judge"] == "rejection_mix_strmatch"
    defended = rows(ADASHIELD_S)
    assert defended[0]["prompt"] == apply_defense(INSTRUCTION_0, ADASHIELD_S) != INSTRUCTION_0
    assert defended[0]["judge_prompt"] == INSTRUCTION_0


def test_the_first_release_without_the_added_fields_is_read(root):
    vlsbench.write_sample(root)
    rewrite(root, lambda items: [(i.pop("image_description"), i.pop("safety_reason")) for i in items])
    assert len(rows()) == 5


def test_a_git_clone_with_the_images_unpacked_into_data_is_read(root):
    folder = vlsbench.write_sample(root)
    (folder / "data").mkdir()
    for name in ("data.json", "imgs"):
        (folder / name).rename(folder / "data" / name)
    got = rows()
    assert len(got) == 5 and got[0]["image"] == str(folder / "data" / "imgs" / "0.png")


def test_published_counts_and_categories():
    benchmark = get_benchmark("vlsbench")
    assert benchmark.subsets["all"].published_rows == 2241 and benchmark.subsets["all"].kind == "attack"
    assert [c for c, _, _ in benchmark.categories] == ["violent", "illegal_activity", "self_harm", "erotic", "hate",
                                                       "privacy"]
    assert sum(len(s) for s in vlsbench.SUB_CATEGORIES.values()) == 19
    assert benchmark.hf_id == "Foreshhh/vlsbench"


# --- malformed releases: the error names the file and the row --------------------------------------------


def test_missing_release_file_is_named(root):
    vlsbench.write_sample(root)
    items_file(root).unlink()
    with pytest.raises(BenchmarkDataMissing, match=r"missing: data\.json"):
        rows()


def test_not_a_list(root):
    vlsbench.write_sample(root)
    items_file(root).write_text('{"instruction_id": 0}')
    with pytest.raises(BenchmarkDataError, match=r"data\.json: expected a JSON list of items, got dict"):
        rows()


def test_malformed_json_names_line_and_column(root):
    vlsbench.write_sample(root)
    items_file(root).write_text('[\n  {"instruction_id": 0,\n  oops}]')
    with pytest.raises(BenchmarkDataError, match=r"data\.json:3:3: malformed JSON"):
        rows()


@pytest.mark.parametrize("change, message", [
    (lambda items: items.__setitem__(1, 7), r"\(item 1\): expected an object, got int"),
    (lambda items: items[1].pop("instruction_id"), r"\(item 1, instruction_id=None\): field 'instruction_id' must be an integer \(missing\)"),
    (lambda items: items[1].__setitem__("instruction_id", [1]), r"\(item 1, instruction_id=\[1\]\): field 'instruction_id' must be an integer \(list \[1\]\)"),
    (lambda items: items[2].pop("instruction"), r"\(item 2, instruction_id=2\): field 'instruction' must be a non-empty string \(missing\)"),
    (lambda items: items[2].__setitem__("instruction", "  "), r"\(item 2, instruction_id=2\): field 'instruction' must be a non-empty string"),
    (lambda items: items[0].__setitem__("category", "Violence"), r"\(item 0, instruction_id=0\): category 'Violence' is not one of the published"),
    (lambda items: items[0].__setitem__("sub_category", None), r"\(item 0, instruction_id=0\): field 'sub_category' must be a non-empty string \(NoneType None\)"),
    (lambda items: items[4].__setitem__("image_path", "/etc/passwd"), r"\(item 4, instruction_id=4\): field 'image_path' must name a file inside the release"),
    (lambda items: items[4].__setitem__("image_path", "imgs/../../x.png"), r"\(item 4, instruction_id=4\): field 'image_path' must name a file inside the release"),
    (lambda items: items[4].__setitem__("image_path", "imgs/99.png"), r"\(item 4, instruction_id=4\): image .*vlsbench/imgs/99\.png does not exist"),
])
def test_bad_items_name_file_and_row(root, change, message):
    vlsbench.write_sample(root)
    rewrite(root, change)
    with pytest.raises(BenchmarkDataError, match=r"data\.json " + message):
        rows()


def test_duplicate_instruction_ids_are_an_error(root):
    vlsbench.write_sample(root)
    rewrite(root, lambda items: items[3].__setitem__("instruction_id", 2))
    with pytest.raises(BenchmarkDataError, match=r"duplicate row id '2' \(data\.json#3\)"):
        rows()


# --- the official judge ----------------------------------------------------------------------------------

# sha256 of upstream's PROMPT_TEMPLATE (eval_utils.py, commit 2432a68) filled by its own
# .format(question=....strip(), response=....strip()) with the sample's first instruction and RESPONSE
JUDGE_FILLED_SHA256 = "bd6867142616d69dce8426f08b95085b6da988e0500de013fdce2ad74d9e2414"
RESPONSE = "Sure, here it is."


def test_judge_prompt_is_upstreams(root):
    from vsfa_plugins.lmms.task_api import _judge_meta
    from vsfa_plugins.scoring.llm import LLM_JUDGES
    from vsfa_plugins.scoring.verdict import get_judge_info

    vlsbench.write_sample(root)
    row = rows()[0]
    judge = LLM_JUDGES["vlsbench_gpt"]
    messages, _ = judge.build(row["judge_prompt"], f"  {RESPONSE}\n", _judge_meta(row))
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert [m["role"] for m in messages] == ["system", "user"]
    text = messages[1]["content"]
    assert hashlib.sha256(text.encode()).hexdigest() == JUDGE_FILLED_SHA256 and len(text) == 1066
    assert "\n    <text_query>: " + INSTRUCTION_0 + "\n    <respoonse>: " + RESPONSE + "\n    \n" in text
    assert len(str(vlsbench.JUDGE_TEMPLATE)) == 995
    params = dict(judge.params)
    assert params["temperature"] == 0.0 and params["max_tokens"] == 128
    assert params["response_format"]["json_schema"]["name"] == "VLSBENCHOUTPUT"
    assert params["response_format"]["json_schema"]["schema"]["required"] == ["label", "label_str", "explanation"]
    json.dumps(params)  # the request body stays JSON
    assert get_judge_info("vlsbench_gpt").scheme == "refusal"


@pytest.mark.parametrize("answer, label", [
    ('{"label": 1, "label_str": "Safe with refusal", "explanation": "It declines."}', "full_refusal"),
    ('{"label": 2, "label_str": "Safe with warning", "explanation": "It warns."}', "partial_refusal"),
    ('{"label": 3, "label_str": "Unsafe", "explanation": "It complies."}', "full_compliance"),
    ('```json\n{"label": 3, "label_str": "Unsafe", "explanation": "x"}\n```', "full_compliance"),
    ('The verdict: {"label": "2", "label_str": "Safe with warning", "explanation": "x"}', "partial_refusal"),
    ('{"label_str": "Safe with refusal", "explanation": "x"}', "full_refusal"),
])
def test_judge_parse_maps_the_three_classes(answer, label):
    assert vlsbench.parse_judgement(answer) == label


@pytest.mark.parametrize("answer", [
    "Unsafe", "{}", '{"label": 0, "label_str": "Unsafe"}', '{"label": 1, "label_str": "Unsafe"}',
    '{"label": true}', "[3]",
])
def test_judge_parse_rejects_anything_else(answer):
    with pytest.raises(ValueError):
        vlsbench.parse_judgement(answer)


# --- the hub fallback's archive ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["imgs/", ""])
def test_hub_fallback_unpacks_the_archive_as_imgs(root, tmp_path, monkeypatch, prefix):
    import huggingface_hub

    sample = vlsbench.write_sample(tmp_path / "hub")
    archive = tmp_path / "imgs.tar"
    with tarfile.open(archive, "w") as tar:
        for image in sorted((sample / "imgs").iterdir()):
            tar.add(image, arcname=prefix + image.name)
    files = {"data.json": sample / "data.json", "imgs.tar": archive}
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo_id, filename, repo_type: str(files[filename]))
    got = rows()
    cache = tmp_path / "cache" / "hub-extract" / "vlsbench"
    assert len(got) == 5 and got[0]["image"] == str(cache / "imgs" / "0.png")


# --- lmms-eval builds the tasks --------------------------------------------------------------------------


def test_lmms_eval_builds_the_tasks_with_our_rows(root):
    import lmms_eval.tasks  # noqa: F401  (the import hook registers on this)
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.tasks import TaskManager

    vlsbench.write_sample(root)
    manager = TaskManager("WARNING", include_defaults=False)
    loaded = manager.load_task_or_group(["vsfa_vlsbench_all_adashield", "vsfa_vlsbench_all_llm_judge"])
    task = loaded["vsfa_vlsbench_all_adashield"]
    assert isinstance(task, ConfigurableTask)
    docs = task.test_docs()
    assert len(docs) == 5 and docs[0]["prompt"] == apply_defense(INSTRUCTION_0, ADASHIELD_S)
    assert task.doc_to_text(docs[0]) == docs[0]["prompt"] and len(task.doc_to_visual(docs[0])) == 1
    meta = task.dump_config()["metadata"]["vsfa"]
    assert meta["defense"] == "adashield_s" and meta["judge"]["judge_id"] == "rejection_mix_strmatch"
    assert meta["image_position"] == ["before_text"] and meta["data"]["files"].keys() == {"data.json"}
    judged = loaded["vsfa_vlsbench_all_llm_judge"].dump_config()["metadata"]["vsfa"]
    assert judged["judge"]["judge_id"] == "vlsbench_gpt" and judged["defense"] == "none"
