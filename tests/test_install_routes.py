"""What ``.ci/install-routes.sh`` checks in each install route's own venv (oldest supported pair, unconstrained
latest resolve): the installed versions are inside the tested ranges, the wheel's recipes train from a lab
folder, and one tiny ``lmms-eval`` run works. The upstream contract tests run next to these.

In the project venv these are skipped with a reason (the same checks run there as test_configs_export.py,
test_lmms_cli.py and test_packaging.py); ``.ci/install-routes.sh`` sets ``VSFA_INSTALL_ROUTE``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import bin_path, run_cli

ROUTE = os.environ.get("VSFA_INSTALL_ROUTE", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ROUTE, reason="install-route check: run by .ci/install-routes.sh in its own venvs"),
]


def _env() -> dict:
    return {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}


def test_running_the_installed_wheel_not_a_checkout():
    import vsfa_plugins
    from vsfa_plugins.configs import configs_dir
    from vsfa_plugins.lmms import tasks_dir

    site = Path(vsfa_plugins.__file__).resolve().parents[1]
    assert site.name == "site-packages", vsfa_plugins.__file__
    assert configs_dir().name == "_llamafactory_configs" and tasks_dir().name == "_lmms_tasks"


def test_doctor_all_versions_in_tested_range_and_registrations_active():
    from vsfa_plugins.versions import check_ranges

    outside = [c.line() for c in check_ranges() if not c.ok]
    assert check_ranges() and not outside, outside
    result = run_cli([bin_path("vsfa"), "doctor"], env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tested ranges: all" in result.stdout and "ACTIVE (hook: registered)" in result.stdout
    print(f"[{ROUTE}]", "; ".join(line.strip() for line in result.stdout.splitlines()[:12]))


def test_oldest_route_has_the_oldest_pair():
    from importlib import metadata

    if ROUTE != "oldest":
        pytest.skip(f"route {ROUTE}: not the oldest pair")
    assert metadata.version("llamafactory") == "0.9.4"
    assert metadata.version("lmms-eval") in ("0.7", "0.7.0")


def test_tiny_qwen2vl_config_reads_as_qwen2_vl_with_its_mrope(tiny_qwen2vl):
    """The two ways the tiny model once broke on 4.57: ``rope_scaling=None`` (M-RoPE attention crashed) and
    ``config.model_type == "qwen2_vl_text"`` (LLaMA-Factory's ``lora_target: all`` took in the vision blocks)."""
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_qwen2vl)
    text = config.get_text_config()
    assert config.model_type == "qwen2_vl"
    if int(transformers.__version__.split(".")[0]) >= 5:
        rope = text.rope_parameters
    else:  # what 4.57's attention reads (rope_parameters, a 5.x key, is only a stray attribute there)
        rope = {**(text.rope_scaling or {}), "rope_theta": text.rope_theta}
    assert rope["mrope_section"] == [2, 3, 3] and rope["rope_theta"] == 1000000.0


def test_exported_recipe_trains_from_a_lab_folder(tiny_qwen2vl, tmp_path):
    lab = tmp_path / "lab"
    exported = run_cli([bin_path("vsfa"), "configs", "export", str(lab), "--model", str(tiny_qwen2vl)], env=_env())
    assert exported.returncode == 0, exported.stdout + exported.stderr
    result = run_cli([bin_path("llamafactory-cli"), "train", "vsfa_qwen2vl.yaml", "output_dir=out", "deepspeed=null",
                      "bf16=false", "max_steps=2", "logging_steps=1", "save_steps=1000",
                      "preprocessing_num_workers=null", "dataloader_num_workers=0", "per_device_train_batch_size=1",
                      "plot_loss=false"], cwd=lab, env=_env(), timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    losses = [json.loads(x).get("loss") for x in (lab / "out" / "trainer_log.jsonl").read_text().splitlines()]
    assert len([x for x in losses if x is not None]) == 2 and "[vsfa-plugins] vsfa:" in log


def test_tiny_lmms_eval_run(tiny_qwen2vl, tmp_path):
    import fixtures_benchmarks as fb

    root = fb.build_all(tmp_path / "data", only=("xstest", "figstep"))
    out = tmp_path / "runs"
    env = {**_env(), "VSFA_DATA_ROOT": str(root), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = run_cli([bin_path("lmms-eval"), "--model", "qwen2_vl", "--model_args",
                      f"pretrained={tiny_qwen2vl},device=cpu,device_map=cpu,max_pixels=12544",
                      "--tasks", "vsfa_xstest_safe,vsfa_figstep_tiny", "--limit", "2", "--batch_size", "1",
                      "--gen_kwargs", "max_new_tokens=4", "--log_samples", "--output_path", str(out)],
                     cwd=tmp_path, env=env, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in log, log[-4000:]
    (results,) = out.rglob("*_results.json")
    got = json.loads(results.read_text())["results"]
    assert {"vsfa_xstest_safe", "vsfa_figstep_tiny"} <= set(got), sorted(got)
