"""Install routes and the import hook: editable (the environment running the tests) and a regular wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import REPO, bin_path, run_cli

PROBE = (
    "import json, sys\n"
    "before = sorted(m for m in sys.modules if m.split('.')[0] in ('vsfa_plugins', 'llamafactory', 'torch'))\n"
    "import llamafactory.data\n"
    "from llamafactory.data.converter import DATASET_CONVERTERS\n"
    "from llamafactory.data.template import TEMPLATES\n"
    "import vsfa_plugins\n"
    "print(json.dumps({'before': before, 'formats': sorted(DATASET_CONVERTERS),\n"
    "  'has_template': 'vsfa_llava_next_mistral' in TEMPLATES, 'pkg': vsfa_plugins.__file__}))\n"
)


def probe(python: str, **env) -> dict:
    result = run_cli([python, "-c", PROBE], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_hook_costs_one_small_import_until_llamafactory_is_imported():
    got = probe(sys.executable)
    assert got["before"] == ["vsfa_plugins", "vsfa_plugins.autoload"]
    assert {"vsfa", "rejection_mix", "rejection_mix_keep_eos"} <= set(got["formats"]) and got["has_template"]


def test_off_switch_imports_nothing_and_registers_nothing():
    got = probe(sys.executable, VSFA_PLUGINS_DISABLE="1")
    assert got["before"] == []
    assert "vsfa" not in got["formats"] and not got["has_template"]


def test_explicit_import_registers_with_the_hook_off():
    code = "import vsfa_plugins.llamafactory\nfrom llamafactory.data.converter import DATASET_CONVERTERS\nprint('vsfa' in DATASET_CONVERTERS)"
    result = run_cli([sys.executable, "-c", code], env={"VSFA_PLUGINS_DISABLE": "1"})
    assert result.returncode == 0 and result.stdout.strip().endswith("True"), result.stderr[-2000:]


def test_doctor_reports_active_registration():
    result = run_cli([bin_path("vsfa"), "doctor"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LLaMA-Factory registration: ACTIVE (hook: registered)" in result.stdout
    assert "llamafactory   0.9.5" in result.stdout


def test_doctor_names_tested_ranges_and_counts_benchmark_rows(tmp_path):
    import fixtures_benchmarks as fb

    from vsfa_plugins.benchmarks import mmsafetybench

    root = fb.build_all(tmp_path / "data")
    result = run_cli([bin_path("vsfa"), "doctor"], env={"VSFA_DATA_ROOT": str(root)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tested ranges: " in result.stdout and "llamafactory " in result.stdout
    assert "    sd: 26 rows (published 1680)" in result.stdout
    assert "    safe: 2 rows (published 250)" in result.stdout and "unsafe: 2 rows (published 200)" in result.stdout
    # a referenced image gone: doctor names it (a run would stop at that row) and fails
    (root / "mm-safetybench" / "imgs" / mmsafetybench.SCENARIOS[0] / "TYPO" / "1.jpg").unlink()
    result = run_cli([bin_path("vsfa"), "doctor"], env={"VSFA_DATA_ROOT": str(root)})
    assert result.returncode == 1 and "typo: ERROR" in result.stdout and "TYPO/1.jpg" in result.stdout, result.stdout


def test_doctor_fails_when_registration_is_off():
    result = run_cli([bin_path("vsfa"), "doctor"], env={"VSFA_PLUGINS_DISABLE": "1"})
    assert result.returncode == 1
    assert "NOT ACTIVE" in result.stdout and "switched off" in result.stdout


def test_version_flag():
    from vsfa_plugins import __version__

    result = run_cli([bin_path("vsfa"), "--version"])
    assert result.returncode == 0 and result.stdout.strip() == f"vsfa-plugins {__version__}"


# --- a regular wheel in a fresh venv, used from a folder outside the checkout ---------------------------

#: console scripts of the dependencies that our commands start as subprocesses; the wheel venv gets copies
#: whose interpreter is its own python (so their import hook is the wheel's .pth, not the checkout's)
DEPENDENCY_SCRIPTS = ("llamafactory-cli", "lmms-eval", "torchrun", "accelerate")


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """Build the wheel, install it (no deps) into a fresh venv that sees the dependencies of the test
    environment through a plain path entry (not its editable vsfa_plugins: that is a .pth of the outer
    environment, which a plain path entry does not process). Returns (wheel, venv python, site dir)."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("vsfa_plugins-*.whl"))

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    site_dir = Path(run_cli([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site_dir / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    for name in DEPENDENCY_SCRIPTS:
        source = Path(bin_path(name))
        lines = source.read_text().splitlines(keepends=True)
        target = venv / "bin" / name
        target.write_text(f"#!{py}\n" + "".join(lines[1:]))
        target.chmod(0o755)
    return wheel, py, site_dir


def in_wheel_env(wheel_env, args: list[str], cwd: Path, timeout: int = 600, **env):
    """Run one of the wheel venv's commands from ``cwd`` (outside the checkout), its bin first on PATH."""
    _, py, _ = wheel_env
    bin_dir = os.path.dirname(py)
    full = {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **env}
    return run_cli([os.path.join(bin_dir, args[0]), *args[1:]], cwd=cwd, env=full, timeout=timeout)


@pytest.mark.slow
def test_wheel_ships_configs_examples_deepspeed_and_tasks(wheel_env):
    import zipfile

    wheel, _, _ = wheel_env
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "vsfa_plugins_autoload.pth" in names  # top level of the wheel = site-packages
    configs = REPO / "llamafactory_configs"
    expected = {f"vsfa_plugins/_llamafactory_configs/{p.relative_to(configs).as_posix()}"
                for p in configs.rglob("*") if p.is_file()}
    expected |= {f"vsfa_plugins/_lmms_tasks/{p.relative_to(REPO / 'lmms_tasks').as_posix()}"
                 for p in (REPO / "lmms_tasks").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert expected - names == set()
    assert {"vsfa_plugins/_llamafactory_configs/ds_z2.json", "vsfa_plugins/_llamafactory_configs/ds_z3.json",
            "vsfa_plugins/_llamafactory_configs/data/dataset_info.json",
            "vsfa_plugins/_llamafactory_configs/data/images/knife.png"} <= names


@pytest.mark.slow
def test_regular_wheel_install_registers_in_a_fresh_interpreter(wheel_env, tmp_path):
    """The hook comes from the wheel's own .pth, the package from the wheel (not the checkout)."""
    _, py, site_dir = wheel_env
    assert (site_dir / "vsfa_plugins_autoload.pth").is_file()
    got = probe(py)
    assert got["pkg"].startswith(str(site_dir)), got["pkg"]
    assert got["before"] == ["vsfa_plugins", "vsfa_plugins.autoload"]
    assert "vsfa" in got["formats"] and got["has_template"]
    doctor = in_wheel_env(wheel_env, ["vsfa", "doctor"], cwd=tmp_path)
    assert doctor.returncode == 0 and "ACTIVE (hook: registered)" in doctor.stdout, doctor.stdout + doctor.stderr
    assert str(site_dir / "vsfa_plugins" / "_lmms_tasks") in doctor.stdout


@pytest.mark.slow
def test_wheel_configs_export_then_train_from_the_lab_folder(wheel_env, tiny_qwen2vl, tmp_path):
    """The README's lab route from the wheel: export the recipes into a folder, train there as typed."""
    _, _, site_dir = wheel_env
    listed = in_wheel_env(wheel_env, ["vsfa", "configs", "list"], cwd=tmp_path)
    assert listed.returncode == 0 and str(site_dir / "vsfa_plugins" / "_llamafactory_configs") in listed.stdout

    lab = tmp_path / "lab"
    exported = in_wheel_env(wheel_env, ["vsfa", "configs", "export", "lab", "--model", str(tiny_qwen2vl)],
                            cwd=tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    validated = in_wheel_env(wheel_env, ["vsfa", "validate", "data/vsfa_examples/vsfa_example.json", "--format",
                                         "vsfa"], cwd=lab)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    trained = in_wheel_env(wheel_env, [
        "llamafactory-cli", "train", "vsfa_qwen2vl.yaml", "output_dir=out", "deepspeed=null", "bf16=false",
        "max_steps=2", "logging_steps=1", "save_steps=1000", "preprocessing_num_workers=null",
        "dataloader_num_workers=0", "per_device_train_batch_size=1", "plot_loss=false"], cwd=lab, timeout=900)
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-4000:]
    assert "[vsfa-plugins] vsfa:" in log and (lab / "out" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_wheel_demo_runs_from_a_temp_dir(wheel_env, tmp_path):
    """``vsfa demo`` from the wheel (small settings): its recipes and lmms-eval tasks are the wheel's."""
    _, _, site_dir = wheel_env
    result = in_wheel_env(wheel_env, ["vsfa", "demo", "--out", "demo", "--limit", "2", "--train-steps", "2",
                                      "--max-new-tokens", "4"], cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    train_log = (tmp_path / "demo" / "logs" / "train-vsfa.log").read_text()
    assert str(site_dir / "vsfa_plugins" / "_llamafactory_configs" / "vsfa_qwen2vl.yaml") in train_log.splitlines()[0]
    assert (tmp_path / "demo" / "report.html").is_file()
