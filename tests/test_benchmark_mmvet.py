"""MM-Vet as an over-refusal set: its release read as published, every row benign, errors that name the row."""

from __future__ import annotations

import json

import pytest

from vsfa_plugins.benchmarks import load_rows, mmvet, release
from vsfa_plugins.benchmarks.defenses import ADASHIELD_STATIC_DEFENSE


def test_rows_are_the_questions_as_published(root):
    folder = mmvet.write_sample(root)
    rows = load_rows("mm-vet", "benign", {}, task="t")[2]
    items = json.loads((folder / "mm-vet.json").read_text())
    assert [r["id"] for r in rows] == list(items) and all(r["kind"] == "benign" for r in rows)
    assert [r["prompt"] for r in rows] == [items[i]["question"] for i in items]  # the question as is
    assert all(r["image"] == str(folder / "images" / items[r["id"]]["imagename"]) for r in rows)
    assert rows[0]["judge"] == "xstest_strmatch" and rows[0]["source"] == "mm-vet.json#v1_0"
    defended = load_rows("mm-vet", "benign", {"defense": "adashield_s"}, task="t")[2][0]
    assert defended["prompt"] == rows[0]["prompt"] + ADASHIELD_STATIC_DEFENSE + rows[0]["prompt"]
    assert mmvet.BENCHMARK.subsets["benign"].published_rows == 218


def test_the_zip_folder_layout_is_read_too(root):
    mmvet.write_sample(root / "unzipped")
    (root / "mm-vet").mkdir(parents=True)
    (root / "unzipped" / "mm-vet").rename(root / "mm-vet" / "mm-vet")
    assert len(load_rows("mm-vet", "benign", {}, task="t")[2]) == 4


@pytest.mark.parametrize("edit, message", [
    (lambda items: items["v1_1"].pop("question"), r"mm-vet.json \(id=v1_1\).*question"),
    (lambda items: items["v1_2"].update(capability=["telepathy"]), r"mm-vet.json \(id=v1_2\): 'capability' must be"),
    (lambda items: items["v1_0"].update(imagename="missing.png"), r"mm-vet.json \(id=v1_0\).*missing.png"),
])
def test_a_bad_row_names_file_and_id(root, edit, message):
    folder = mmvet.write_sample(root)
    items = json.loads((folder / "mm-vet.json").read_text())
    edit(items)
    (folder / "mm-vet.json").write_text(json.dumps(items))
    with pytest.raises(release.BenchmarkDataError, match=message):
        load_rows("mm-vet", "benign", {}, task="t")


def test_lmms_eval_builds_the_task(root):
    import lmms_eval.tasks  # noqa: F401  (the import hook registers on this)
    from lmms_eval.tasks import TaskManager

    from vsfa_plugins.lmms import upstream

    upstream._SKIPPED.clear()
    mmvet.write_sample(root)
    task = TaskManager("WARNING", include_defaults=False).load_task_or_group(["vsfa_mmvet"])["vsfa_mmvet"]
    docs = task.test_docs()
    assert len(docs) == 4 and task.dump_config()["metadata"]["vsfa"]["kinds"] == ["benign"]
    assert len(task.doc_to_visual(docs[0])) == 1
