"""``vsfa configs list`` / ``vsfa configs export DIR``: our recipes into a lab's LLaMA-Factory folder.

The used-by line is typed as a lab types it: ``cd DIR && llamafactory-cli train vsfa_qwen2vl.yaml`` with
the lab's own ``data/dataset_info.json`` next to it. The export must keep every lab entry, refuse to replace
a lab file that differs (nothing written), never write outside DIR, and be a no-op when rerun.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import CONFIGS, bin_path, run_cli

LAB_ENTRY = {"llava_665k": {"file_name": "llava_v1_5_mix665k.json", "formatting": "sharegpt"}}
CPU_OVERRIDES = [
    "bf16=false", "max_steps=2", "logging_steps=1", "save_steps=1000", "preprocessing_num_workers=null",
    "dataloader_num_workers=0", "per_device_train_batch_size=1", "gradient_accumulation_steps=1",
    "plot_loss=false", "overwrite_cache=true",
]


def vsfa(*args: str, cwd: Path | None = None):
    return run_cli([bin_path("vsfa"), *args], cwd=cwd)


def lab_folder(tmp_path: Path) -> Path:
    lab = tmp_path / "lab"
    (lab / "data").mkdir(parents=True)
    (lab / "data" / "dataset_info.json").write_text(json.dumps(LAB_ENTRY, indent=2) + "\n")
    (lab / "data" / "llava_v1_5_mix665k.json").write_text("[]\n")
    return lab


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def train_in_lab(lab: Path, model: Path, recipe: str = "vsfa_qwen2vl.yaml", *overrides: str, nproc: int = 0):
    """``llamafactory-cli train <recipe>`` run from the lab folder, as typed there."""
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    if nproc:
        env.update(FORCE_TORCHRUN="1", NPROC_PER_NODE=str(nproc), MASTER_PORT=str(29700 + os.getpid() % 1000))
    return run_cli([bin_path("llamafactory-cli"), "train", recipe, "output_dir=out", *CPU_OVERRIDES, *overrides],
                   cwd=lab, env=env, timeout=900)


def assert_trained(result, out: Path, steps: int = 2) -> str:
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    losses = [json.loads(line).get("loss") for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert len([x for x in losses if x is not None]) == steps, losses
    assert (out / "adapter_model.safetensors").stat().st_size > 0
    return log


def test_list_names_every_recipe_and_deepspeed_file():
    result = vsfa("configs", "list")
    assert result.returncode == 0, result.stderr
    for path in sorted(CONFIGS.glob("*.yaml")) + sorted(CONFIGS.glob("ds_z*.json")):
        assert path.name in result.stdout
    assert "vsfa_example" in result.stdout and "vsfa configs export DIR" in result.stdout


def test_export_keeps_lab_entries_and_paths_resolve_in_the_lab(tmp_path):
    lab = lab_folder(tmp_path)
    before = snapshot(lab)
    result = vsfa("configs", "export", str(lab), "--model", "/models/tiny")
    assert result.returncode == 0, result.stdout + result.stderr

    info = json.loads((lab / "data" / "dataset_info.json").read_text())
    assert list(info)[0] == "llava_665k" and info["llava_665k"] == LAB_ENTRY["llava_665k"]  # kept, first
    ours = json.loads((CONFIGS / "data" / "dataset_info.json").read_text())
    assert set(info) == {"llava_665k"} | set(ours)
    for name, entry in ours.items():  # every example file the merged entries name is there
        assert info[name]["formatting"] == entry["formatting"]
        assert (lab / "data" / info[name]["file_name"]).is_file()
    # every lab file is untouched except the merged dataset_info.json
    after = snapshot(lab)
    assert {k: v for k, v in after.items() if k in before and k != "data/dataset_info.json"} == \
           {k: v for k, v in before.items() if k != "data/dataset_info.json"}

    from vsfa_plugins.configs import _top_level_values

    for recipe in sorted(CONFIGS.glob("*.yaml")):
        values = _top_level_values((lab / recipe.name).read_text())
        assert values["model_name_or_path"] == "/models/tiny"
        assert values["dataset_dir"] == "data" and (lab / values["dataset_dir"] / "dataset_info.json").is_file()
        assert (lab / values["deepspeed"]).is_file(), values["deepspeed"]
        assert values["dataset"] in info
        # comments survive (the paper settings are explained there)
        assert (lab / recipe.name).read_text().count("#") >= recipe.read_text().count("#")


def test_rerun_is_a_no_op_and_a_differing_lab_file_is_refused(tmp_path):
    lab = lab_folder(tmp_path)
    assert vsfa("configs", "export", str(lab)).returncode == 0
    first = snapshot(lab)
    again = vsfa("configs", "export", str(lab))
    assert again.returncode == 0 and "wrote" not in again.stdout, again.stdout
    assert snapshot(lab) == first

    # the lab edited our recipe and its own example entry clashes with ours: refused, nothing written
    (lab / "vsfa_qwen2vl.yaml").write_text("# the lab's own edits\n")
    info = json.loads((lab / "data" / "dataset_info.json").read_text())
    info["vsfa_example"] = {"file_name": "theirs.json"}
    (lab / "data" / "dataset_info.json").write_text(json.dumps(info))
    edited = snapshot(lab)
    refused = vsfa("configs", "export", str(lab), "--model", "/other")
    assert refused.returncode == 1
    assert "vsfa_qwen2vl.yaml" in refused.stderr and "'vsfa_example'" in refused.stderr
    assert "nothing was written" in refused.stderr and "Traceback" not in refused.stderr
    assert snapshot(lab) == edited

    forced = vsfa("configs", "export", str(lab), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (lab / "vsfa_qwen2vl.yaml").read_bytes() == first["vsfa_qwen2vl.yaml"]
    assert json.loads((lab / "data" / "dataset_info.json").read_text())["llava_665k"] == LAB_ENTRY["llava_665k"]


@pytest.mark.parametrize("dataset_dir", ["../outside", "/abs/data", ""])
def test_dataset_dir_outside_the_folder_is_refused(tmp_path, dataset_dir):
    lab = tmp_path / "lab"
    result = vsfa("configs", "export", str(lab), "--dataset-dir", dataset_dir)
    assert result.returncode == 1 and "--dataset-dir" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "outside").exists() and not lab.exists()


def test_symlinked_folder_pointing_outside_is_refused(tmp_path):
    lab, elsewhere = tmp_path / "lab", tmp_path / "elsewhere"
    lab.mkdir()
    elsewhere.mkdir()
    (lab / "data").symlink_to(elsewhere)
    result = vsfa("configs", "export", str(lab))
    assert result.returncode == 1 and "outside" in result.stderr, result.stderr
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in lab.iterdir()) == ["data"]


def test_custom_dataset_dir(tmp_path):
    lab = tmp_path / "lab"
    result = vsfa("configs", "export", str(lab), "--dataset-dir", "llamafactory_data")
    assert result.returncode == 0, result.stderr
    assert "dataset_dir: llamafactory_data" in (lab / "vsfa_qwen2vl.yaml").read_text()
    assert (lab / "llamafactory_data" / "dataset_info.json").is_file()


@pytest.mark.slow
def test_exported_recipe_trains_from_the_lab_folder(tiny_qwen2vl, tmp_path):
    lab = lab_folder(tmp_path)
    assert vsfa("configs", "export", str(lab), "--model", str(tiny_qwen2vl)).returncode == 0
    result = train_in_lab(lab, tiny_qwen2vl, "vsfa_qwen2vl.yaml", "deepspeed=null")
    log = assert_trained(result, lab / "out")
    assert "[vsfa-plugins] vsfa:" in log and "6 rows valid" in log


@pytest.mark.slow
def test_exported_recipe_trains_torchrun_zero2_with_its_own_deepspeed_json(tiny_qwen2vl, tmp_path):
    lab = lab_folder(tmp_path)
    assert vsfa("configs", "export", str(lab), "--model", str(tiny_qwen2vl)).returncode == 0
    result = train_in_lab(lab, tiny_qwen2vl, "vsfa_qwen2vl.yaml", nproc=2)  # deepspeed: ds_z2.json (in lab)
    log = assert_trained(result, lab / "out")
    assert "Detected DeepSpeed ZeRO-3" not in log and "deepspeed" in log.lower()
