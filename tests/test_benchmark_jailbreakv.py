"""JailBreakV-28K (mini): the loader on the synthetic sample release, its data errors, the published counts and
policies, and the lmms-eval tasks built on it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from vsfa_plugins.benchmarks import defenses, get_benchmark, jailbreakv, load_rows
from vsfa_plugins.benchmarks import release as data
from vsfa_plugins.benchmarks.release import BenchmarkDataError, BenchmarkDataMissing


@pytest.fixture()
def sample(root) -> Path:
    return jailbreakv.write_sample(root)


def rows_of(**kwargs):
    return load_rows("jailbreakv-28k", "mini", kwargs, task="t")[2]


def rewrite(folder: Path, change) -> Path:
    """Rewrite the sample CSV through ``change(header, rows)``; returns its path."""
    path = folder / "JailBreakV_28K" / jailbreakv.FILE
    with open(path, encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    header, rows = lines[0], lines[1:]
    change(header, rows)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header] + rows)
    return path


# --- the loader on the sample ------------------------------------------------------------------------


def test_sample_is_marked_synthetic_and_in_the_hub_layout(sample):
    assert (sample / data.SYNTHETIC_MARKER).is_file()
    base = sample / "JailBreakV_28K"
    with open(base / jailbreakv.FILE, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == jailbreakv.COLUMNS
        items = list(reader)
    assert all((base / item["image_path"]).is_file() for item in items)
    assert {item["image_path"].split("/")[0] for item in items} == {"llm_transfer_attack", "figstep", "query_related"}


def test_rows_send_the_jailbreak_query_as_written_with_its_image(sample):
    rows = rows_of()
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"] and {r["kind"] for r in rows} == {"attack"}
    base = sample / "JailBreakV_28K"
    with open(base / jailbreakv.FILE, encoding="utf-8", newline="") as handle:
        items = list(csv.DictReader(handle))
    for row, item in zip(rows, items):
        # attack.py: model.inference(os.path.join(root, image_path), jailbreak_query)
        assert row["prompt"] == row["question"] == item["jailbreak_query"]
        assert row["judge_prompt"] == item["redteam_query"]
        assert Path(row["image"]) == base / item["image_path"] and Path(row["image"]).is_file()
        assert row["category_name"] == item["policy"] and row["groups"] == item["format"].lower()
        assert row["image_position"] == "before_text" and row["judge"] == "rejection_mix_strmatch"
    assert [r["category"] for r in rows] == ["fraud", "malware", "privacy_violation", "hate_speech", "animal_abuse"]
    assert rows[3]["groups"] == "sd_typo" and rows[0]["source"] == "mini_JailBreakV_28K.csv:2"


def test_adashield_wraps_the_jailbreak_query(sample):
    row = rows_of(defense="adashield_s")[0]
    query = row["question"]
    assert row["prompt"] == query + defenses.ADASHIELD_STATIC_DEFENSE + query


def test_the_extracted_folder_itself_reads_the_same_rows(sample, root):
    flat = rows_of()
    moved = root / "moved"
    shutil.move(str(sample / "JailBreakV_28K"), str(moved))
    shutil.rmtree(sample)
    shutil.move(str(moved), str(sample))  # jailbreakv-28k/ = the JailBreakV_28K folder's contents
    data._RESOLVED.clear()
    assert [(r["id"], Path(r["image"]).relative_to(sample)) for r in rows_of()] == [
        (r["id"], Path(r["image"]).relative_to(sample / "JailBreakV_28K")) for r in flat]


def test_policies_formats_and_counts_as_published():
    benchmark = get_benchmark("jailbreakv-28k")
    assert len(jailbreakv.POLICIES) == len(set(jailbreakv.POLICIES)) == 16
    assert [name for _, name, _ in benchmark.categories] == list(jailbreakv.POLICIES)
    assert "child_abuse_content" in {c for c, _, _ in benchmark.categories}
    assert benchmark.extra_groups == ("template", "persuade", "logic", "figstep", "sd", "sd_typo", "typo")
    assert benchmark.subsets["mini"].published_rows == 280 and benchmark.subsets["mini"].kind == "attack"
    assert benchmark.hf_id is None  # the hub does not carry the images the mini set references: no fallback
    assert not benchmark.judges


def test_no_task_claims_llama_guard_reproduces_jailbreakvs_evaluation():
    layout = get_benchmark("jailbreakv-28k").tasks
    assert [v.suffix for v in layout.variants] == ["", "adashield"]
    assert all("judge" not in v.options for v in layout.variants)


# --- bad files and rows ------------------------------------------------------------------------------


def test_missing_csv_names_the_file(root):
    (root / "jailbreakv-28k" / "JailBreakV_28K").mkdir(parents=True)
    with pytest.raises(BenchmarkDataMissing, match=r"missing: mini_JailBreakV_28K\.csv"):
        rows_of()


def test_header_without_a_column_names_it(sample):
    def drop_policy(header, rows):
        index = header.index("policy")
        for line in [header] + rows:
            del line[index]

    rewrite(sample, drop_policy)
    with pytest.raises(BenchmarkDataError, match=r"mini_JailBreakV_28K\.csv:1: header .* lacks columns \['policy'\]"):
        rows_of()


@pytest.mark.parametrize("column, value, message", [
    ("policy", "Weather", r"mini_JailBreakV_28K\.csv:4: policy 'Weather' is not one of the 16 published policies"),
    ("format", "ascii_art", r"mini_JailBreakV_28K\.csv:4: format 'ascii_art' is not one of \['Template'"),
    ("jailbreak_query", " ", r"mini_JailBreakV_28K\.csv:4: column 'jailbreak_query' is empty"),
    ("id", "", r"mini_JailBreakV_28K\.csv:4: column 'id' is empty"),
    ("image_path", "figstep/absent.png", r"mini_JailBreakV_28K\.csv:4: image .*figstep/absent\.png does not exist"),
])
def test_bad_rows_name_file_and_line(sample, column, value, message):
    def change(header, rows):
        rows[2][header.index(column)] = value

    rewrite(sample, change)
    with pytest.raises(BenchmarkDataError, match=message):
        rows_of()


def test_short_row_and_duplicate_id_are_errors(sample):
    rewrite(sample, lambda header, rows: rows[1].pop())
    with pytest.raises(BenchmarkDataError, match=r"mini_JailBreakV_28K\.csv:3: the row's number of fields differs"):
        rows_of()
    jailbreakv.write_sample(sample.parent)
    rewrite(sample, lambda header, rows: rows[4].__setitem__(0, "2"))
    with pytest.raises(BenchmarkDataError, match=r"duplicate row id '2' \(mini_JailBreakV_28K\.csv:6\)"):
        rows_of()


def test_a_missing_image_folder_is_a_row_error(sample):
    shutil.rmtree(sample / "JailBreakV_28K" / "query_related")
    with pytest.raises(BenchmarkDataError, match=r"mini_JailBreakV_28K\.csv:5: image .*SD_typo_related_4\.png"):
        rows_of()


# --- lmms-eval ---------------------------------------------------------------------------------------


def test_tasks_build_with_our_rows_and_per_policy_and_attack_metrics(root):
    import lmms_eval.tasks  # noqa: F401  (the import hook registers on this)
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.tasks import TaskManager

    from vsfa_plugins.lmms import task_api, upstream

    upstream._SKIPPED.clear()
    jailbreakv.write_sample(root)
    names = ["vsfa_jailbreakv_mini", "vsfa_jailbreakv_mini_adashield"]
    loaded = TaskManager("WARNING", include_defaults=False).load_task_or_group(names)
    task, defended = loaded[names[0]], loaded[names[1]]
    assert isinstance(task, ConfigurableTask) and isinstance(defended, ConfigurableTask)
    docs = task.test_docs()
    assert len(docs) == 5 and task.doc_to_text(docs[0]) == docs[0]["prompt"] == docs[0]["question"]
    assert len(task.doc_to_visual(docs[0])) == 1
    meta = task.dump_config()["metadata"]["vsfa"]
    assert meta["judge"]["judge_id"] == "rejection_mix_strmatch" and meta["defense"] == "none"
    assert meta["data"]["files"].keys() == {"mini_JailBreakV_28K.csv"}  # relative to the release folder
    assert defended.dump_config()["metadata"]["vsfa"]["defense"] == "adashield_s"
    assert defended.test_docs()[0]["prompt"].startswith(docs[0]["prompt"] + defenses.ADASHIELD_STATIC_DEFENSE)
    out = task_api.process_results(docs[3], ["Sure. Step 1: gather the materials. Step 2: follow the plan."])
    assert out["asr"] == out["asr__hate_speech"] == out["asr_sd_typo"] == 1
    keys = set(task_api.metric_keys(get_benchmark("jailbreakv-28k")))
    assert {"asr__child_abuse_content", "asr__tailored_unlicensed_advice", "asr_template", "asr_typo"} <= keys
    upstream._SKIPPED.clear()
