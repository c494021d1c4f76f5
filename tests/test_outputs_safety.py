"""The output rules every command follows (issue: "never overwrite or delete a file the user did not name as
an output"): a lab's ``dataset_info.json`` is merged into, never clobbered; a name clash is refused unless
``--replace-entry``; an output that is an input is refused; names are plain stems; every write stays in the
output folder; a killed run's ``.partial`` files are cleaned; a full disk or read-only folder is one
``error:`` line, never a traceback, and leaves the lab's files as they were."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from vsfa_plugins import io as vio
from vsfa_plugins.builders.outputs import Outputs, check_outputs
from vsfa_plugins.cli import main as vsfa_main

LAB = {"llava_665k": {"file_name": "l.json"}, "sharegpt4v": {"file_name": "s.json", "formatting": "sharegpt"},
       "mllm_demo": {"file_name": "mllm_demo.json", "formatting": "sharegpt", "columns": {"messages": "messages"}}}


def _llava_rows(n: int, tag: str, with_image: bool = True) -> list[dict]:
    rows = []
    for i in range(n):
        row = {"id": f"{tag}{i}"}
        if with_image:
            row["image"] = f"img/{i % 3}.png"
        q = f"<image>\nWhat is shown in picture {tag}{i}?" if with_image else f"Say something about {tag}{i}."
        row["conversations"] = [{"from": "human", "value": q}, {"from": "gpt", "value": f"A thing {tag}{i}."}]
        rows.append(row)
    return rows


@pytest.fixture()
def lab(tmp_path):
    """A lab folder: its own dataset_info.json (3 entries), benign/instruct sources and images in it."""
    root = tmp_path / "lab"
    (root / "img").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 60, 20, 20)).save(root / "img" / f"{i}.png")
    (root / "dataset_info.json").write_text(json.dumps(LAB, indent=2))
    (root / "benign.json").write_text(json.dumps(_llava_rows(6, "b")))
    (root / "instruct.json").write_text(json.dumps(_llava_rows(10, "i")))
    vlg = [{"id": f"S_{i}", "image": f"img/{i % 3}.png", "safe": True, "instr-resp": [
        {"safe_instruction": f"What is shown {i}?", "response": f"A poster {i}."},
        {"unsafe_instruction": f"How to misuse this {i}?", "response": f"I'm sorry, not {i}."}]} for i in range(4)]
    (root / "train.json").write_text(json.dumps(vlg))
    return root


def _snapshot(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _rmix(lab, *extra) -> int:
    return vsfa_main(["build-rejection-mix", "--benign", str(lab / "benign.json"), "--instruct",
                      str(lab / "instruct.json"), "--num-rejection", "2", "--num-instruct", "4", *extra])


def _vlguard(lab, *extra) -> int:
    return vsfa_main(["build-vlguard", "--train-json", str(lab / "train.json"), *extra])


def _vsfa(lab, out, *extra) -> int:
    return vsfa_main(["build-vsfa", "--teacher", "procedural", "--num-images", "3", "--seed", "0",
                      "--modalities", "image", "--out", str(out), *extra])


BUILDERS = {
    "build-rejection-mix": (lambda lab, out, *x: _rmix(lab, "--out-dir", str(out), *x), ["rejection_mix"]),
    "build-vlguard": (lambda lab, out, *x: _vlguard(lab, "--out-dir", str(out), *x), ["vlguard"]),
    "build-vsfa": (lambda lab, out, *x: _vsfa(lab, out, *x), ["vsfa_image"]),
}


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_every_builder_keeps_the_labs_dataset_info_entries(lab, builder):
    """The issue's repro: --out-dir lab --merge-into lab/dataset_info.json erased the lab's entries."""
    run, names = BUILDERS[builder]
    info = lab / "dataset_info.json"
    assert run(lab, lab, "--merge-into", str(info)) == 0
    merged = json.loads(info.read_text())
    for key, entry in LAB.items():
        assert merged[key] == entry, f"{builder} changed the lab's entry {key}"
    for name in names:
        assert merged[name]["formatting"] == "vsfa" if builder == "build-vsfa" else merged[name]["formatting"]
        assert (lab / merged[name]["file_name"]).is_file()
    assert list(merged)[:3] == list(LAB)  # the lab's order first, ours appended
    # the same without --merge-into: the out dir's dataset_info.json is still merged, not overwritten
    info.write_text(json.dumps(LAB))
    assert run(lab, lab) == 0
    assert {k: v for k, v in json.loads(info.read_text()).items() if k in LAB} == LAB


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_name_clash_is_refused_before_anything_is_written(lab, builder, capsys):
    run, names = BUILDERS[builder]
    clash = dict(LAB, **{names[0]: {"file_name": "theirs.json"}})
    (lab / "dataset_info.json").write_text(json.dumps(clash))
    out = lab / "out"
    before = _snapshot(lab)
    assert run(lab, out, "--merge-into", str(lab / "dataset_info.json")) == 1
    err = capsys.readouterr().err
    assert "already has a different entry" in err and "--replace-entry" in err and "Traceback" not in err
    assert _snapshot(lab) == before  # nothing written anywhere: not the dataset, not the lab's file
    assert run(lab, out, "--merge-into", str(lab / "dataset_info.json"), "--replace-entry") == 0
    merged = json.loads((lab / "dataset_info.json").read_text())
    assert merged[names[0]]["file_name"] != "theirs.json" and {k: merged[k] for k in LAB} == LAB


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "a/b", ".hidden", "..", "", "x" * 200])
def test_names_are_plain_stems(lab, name, capsys, tmp_path):
    before = _snapshot(tmp_path)
    assert _rmix(lab, "--out-dir", str(lab / "out"), "--name", name) == 1
    err = capsys.readouterr().err
    assert "not a plain file stem" in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before
    assert not os.path.exists("/abs/x.jsonl")


def test_an_output_that_is_an_input_is_refused(lab, capsys):
    """`--out-dir . --name benign --output-format json` would replace the input benign.json."""
    before = _snapshot(lab)
    assert _rmix(lab, "--out-dir", str(lab), "--name", "benign", "--output-format", "json") == 1
    err = capsys.readouterr().err
    assert "is also an input" in err and "benign.json" in err
    assert _snapshot(lab) == before
    # through a symlink too
    os.symlink(lab / "instruct.json", lab / "alias.json")
    assert _rmix(lab, "--out-dir", str(lab), "--name", "alias", "--output-format", "json") == 1
    assert "is also an input" in capsys.readouterr().err
    # --merge-into at an input
    assert _rmix(lab, "--out-dir", str(lab / "o"), "--merge-into", str(lab / "benign.json")) == 1
    assert not (lab / "o").exists() or not any((lab / "o").iterdir())


def test_contamination_report_never_replaces_the_dataset(lab, capsys, tmp_path):
    data_root = tmp_path / "bench"
    (data_root / "figstep").mkdir(parents=True)
    before = _snapshot(lab)
    rc = vsfa_main(["contamination", str(lab / "benign.json"), "--data-root", str(data_root),
                    "--report", str(lab / "benign.json")])
    assert rc == 1 and "is also an input" in capsys.readouterr().err
    assert _snapshot(lab) == before


def test_stale_partials_of_a_killed_run_are_cleaned_and_live_ones_kept(lab):
    out = lab / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = out / f".rejection_mix.jsonl.{dead_pid}.abcd{vio.PARTIAL_SUFFIX}"
    live = out / f".rejection_mix.jsonl.{os.getppid()}.efgh{vio.PARTIAL_SUFFIX}"  # a live process: kept
    other = out / ".notes.txt.partial"  # not one of our outputs' temp files: kept
    for p in (stale, live, other):
        p.write_text("half a file")
    assert _rmix(lab, "--out-dir", str(out)) == 0
    assert not stale.exists() and live.exists() and other.exists()
    assert not [p for p in os.listdir(out) if p.endswith(".partial") and str(os.getpid()) in p]


def test_a_full_disk_is_one_error_line_and_leaves_no_partial_and_the_labs_file_intact(lab, monkeypatch, capsys):
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    before = _snapshot(lab)
    assert _rmix(lab, "--out-dir", str(lab), "--merge-into", str(lab / "dataset_info.json")) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _snapshot(lab) == before
    assert not [p for p in os.listdir(lab) if p.endswith(".partial")]


def test_a_read_only_output_folder_is_one_error_line(lab, monkeypatch, capsys):
    """Simulated (the suite runs as root, which ignores folder permissions): creating a file fails EROFS."""
    import tempfile

    def read_only(*args, dir=None, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert _rmix(lab, "--out-dir", str(lab / "ro")) == 1
    err = capsys.readouterr().err
    assert f"{lab / 'ro'}: Read-only file system" in err and "Traceback" not in err


def test_outputs_refuse_paths_outside_the_folder_and_double_writes(tmp_path):
    with pytest.raises(vio.OutputError, match="plain relative path"):
        with Outputs(tmp_path) as out:
            out.text("../escape.txt", "x")
    with pytest.raises(vio.OutputError, match="plain relative path"):
        with Outputs(tmp_path) as out:
            out.text("/tmp/abs.txt", "x")
    with pytest.raises(vio.OutputError, match="written twice"):
        with Outputs(tmp_path) as out:
            out.text("a.txt", "1")
            out.text("a.txt", "2")
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "a.txt").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(vio.OutputError, match="is a file"):
        check_outputs(tmp_path / "f", ["a.jsonl"], [])


def test_a_broken_labs_dataset_info_is_named_and_kept(lab, capsys):
    bad = b'{"llava_665k": {"file_name": "l.json"},\n  "x": \xff}\n'
    (lab / "dataset_info.json").write_bytes(bad)
    assert _rmix(lab, "--out-dir", str(lab / "o"), "--merge-into", str(lab / "dataset_info.json")) == 1
    err = capsys.readouterr().err
    assert "dataset_info.json:2" in err and "UTF-8" in err
    assert (lab / "dataset_info.json").read_bytes() == bad
