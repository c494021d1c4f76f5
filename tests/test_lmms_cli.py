"""The stock ``lmms-eval`` command with the tiny random Qwen2-VL: our suite next to a stock capability task.

The capability task is lmms-eval's own ``mme`` (its YAML, prompts, utils and metrics) run on a local parquet
in the hub dataset's schema: a group YAML of ours lists ``{task: mme, dataset_path: parquet, dataset_kwargs:
{data_files: ...}}`` — lmms-eval merges such a dict over the registered task's config — so nothing is
downloaded. lmms-eval exits 0 even when a task fails, so each run is also checked for tracebacks and for
every expected task in the results file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import fixtures_benchmarks as fb
import pytest
from conftest import REPO, bin_path, run_cli

pytestmark = pytest.mark.slow

def _suite_tasks() -> dict[str, str]:
    """Every leaf task vsfa_safety runs -> its headline metric, from the registry (the published variant of
    each benchmark; FigStep's is its SafeBench task alone)."""
    from vsfa_plugins.benchmarks import benchmarks
    from vsfa_plugins.scoring.contract import MAIN_METRIC

    out = {}
    for benchmark in benchmarks().values():
        layout = benchmark.tasks
        variant = next(v for v in layout.variants if v.suite == "vsfa_safety")
        subsets = variant.subsets or tuple(benchmark.subsets)
        for subset in subsets if variant.grouped else subsets[:1]:
            out[layout.task_name(subset, variant)] = MAIN_METRIC[benchmark.subsets[subset].kind]
    return out


SUITE_TASKS = _suite_tasks()


def lmms_eval(args: list[str], model: Path, data_root: Path, out: Path, **env):
    model_args = f"pretrained={model},device=cpu,device_map=cpu,max_pixels=12544"
    venv_bin = str(Path(bin_path("lmms-eval")).parent)
    full_env = {"VSFA_DATA_ROOT": str(data_root), "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
                "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env}
    return run_cli([bin_path("lmms-eval"), "--model", "qwen2_vl", "--model_args", model_args, *args,
                    "--output_path", str(out)], cwd=out.parent, env=full_env, timeout=540)


def assert_clean(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for bad in ("Traceback", "Error during evaluation", "[vsfa-plugins] WARNING", "[vsfa-plugins] ERROR"):
        assert bad not in output, output[-6000:]
    return output


def results_file(out: Path) -> dict:
    (path,) = out.rglob("*_results.json")
    return json.loads(path.read_text())


def local_parquet_group(folder: Path, group: str, task: str, split: str, parquet: Path) -> Path:
    """A group YAML of ours in ``folder`` running lmms-eval's stock ``task`` on a local parquet in the hub
    dataset's schema (lmms-eval merges the dict over the registered task's config); returns ``folder``."""
    (folder / f"{group}.yaml").write_text(
        f"# lmms-eval's stock {task} on a local parquet in the hub dataset's schema\n"
        f"group: {group}\n"
        "task:\n"
        f"  - task: {task}\n"
        "    dataset_path: parquet\n"
        "    dataset_kwargs:\n"
        "      data_files:\n"
        f"        {split}: {parquet}\n"
    )
    return folder


def capability_group(folder: Path) -> Path:
    parquet = fb.build_mme_parquet(folder / "mme" / "test.parquet")
    return local_parquet_group(folder, "vsfa_local_capability", "mme", "test", parquet)


def test_suite_and_a_stock_capability_task_in_one_run(tiny_qwen2vl, tmp_path):
    data_root = fb.build_all(tmp_path / "data")
    include = capability_group(tmp_path / "capability")  # our own lmms_tasks/ is NOT on --include_path
    out = tmp_path / "runs"
    # 24 generations: --gen_kwargs bounds their length (random weights rarely stop early) and shows that an
    # override is what the results record; the 512-token default is checked in the next test
    result = lmms_eval(["--tasks", "vsfa_safety,vsfa_local_capability", "--include_path", str(include),
                        "--limit", "2", "--log_samples", "--gen_kwargs", "max_new_tokens=48"], tiny_qwen2vl, data_root, out)
    assert_clean(result)
    results = results_file(out)

    assert set(SUITE_TASKS) | {"mme"} <= set(results["results"])
    assert "mme_perception_score,none" in results["results"]["mme"]
    for task, main in SUITE_TASKS.items():
        got = results["results"][task]
        assert 0.0 <= got[f"{main},none"] <= 1.0, (task, got)
        assert got["judge_error_rate,none"] == 0.0 and got["attempts_per_prompt,none"] == 1.0
        benchmark = results["configs"][task]["metadata"]["vsfa"]["benchmark"]
        judge_id, _, prompt_hash = got["judge,none"].partition("@")
        from vsfa_plugins.benchmarks import get_benchmark

        assert judge_id == get_benchmark(benchmark).default_judge and len(prompt_hash) == 16
        assert results["n-samples"][task]["effective"] == 2
        config = results["configs"][task]
        assert config["generation_kwargs"]["max_new_tokens"] == 48 and config["generation_kwargs"]["until"] == []
        assert config["metadata"]["vsfa"]["data"]["root"] == str(data_root)
        definition = config["metadata"]["vsfa"]["asr_definition"]
        assert definition["attempts_per_prompt"] == 1 and definition["aggregation"] == "any_of_k"
        assert definition["sampling"]["max_new_tokens"] == 48 and definition["sampling"]["do_sample"] is False
        assert config["metadata"]["vsfa"]["judge"]["judge_id"] == judge_id
        (samples,) = out.rglob(f"*_samples_{task}.jsonl")
        lines = [json.loads(line) for line in samples.read_text().splitlines()]
        assert len(lines) == 2
        for line in lines:  # one record per answer; every metric holds only its value
            record = line["vsfa_record"]
            assert record["judge_id"] == judge_id and record["prompt_hash"] == prompt_hash
            assert record["benign"] is (main == "over_refusal_rate") and line[main] in (0, 1)
        low, high = got[f"{main}_ci95_low,none"], got[f"{main}_ci95_high,none"]
        assert 0.0 <= low <= got[f"{main},none"] <= high <= 1.0
    # categories and FigStep's harmful-only aggregate come out per task; groups pool their members
    assert "asr__01_illegal_activity,none" in results["results"]["vsfa_figstep"]
    assert "asr_harmful,none" in results["results"]["vsfa_figstep"]
    assert "asr,none" in results["groups"]["vsfa_mmsafetybench"]
    assert_groups_pooled_from_integers(out, results)
    from test_lmms_tasks import suite_members

    assert results["group_subtasks"]["vsfa_safety"] == suite_members("vsfa_safety")


def assert_groups_pooled_from_integers(out: Path, results: dict) -> None:
    """Each group of ours: hits ÷ judged from its members' summed counts, the pooled figures of its members'
    records (what `vsfa score` computes), and — for the whole suite — the report's pooled ASR."""
    from vsfa_plugins.scoring.pooling import pooled_metrics

    records = {}
    for path in out.rglob("*_samples_*.jsonl"):
        task = path.name.split("_samples_", 1)[1].removesuffix(".jsonl")
        found = [json.loads(line).get("vsfa_record") for line in path.read_text().splitlines()]
        if all(found):  # our tasks only (mme's samples carry no record)
            records[task] = found
    rows = {**results["results"], **results.get("groups", {})}
    for group, members in results["group_subtasks"].items():
        leaves, todo = [], list(members)
        while todo:
            name = todo.pop(0)
            todo[:0] = results["group_subtasks"].get(name, [])
            if name not in results["group_subtasks"]:
                leaves.append(name)
        if not group.startswith("vsfa_") or not all(leaf in records for leaf in leaves):
            continue
        row = rows[group]
        assert "asr_hits,none" in row, (group, sorted(row))
        hits = sum(results["results"][leaf].get("asr_hits,none", 0) for leaf in leaves)
        judged = sum(results["results"][leaf].get("attack_judged,none", 0) for leaf in leaves)
        assert (row["asr_hits,none"], row["attack_judged,none"]) == (hits, judged), group
        assert row["asr,none"] == hits / judged, group
        pooled = pooled_metrics([r for leaf in leaves for r in records[leaf]])
        assert {k: row[f"{k},none"] for k in pooled} == pooled, group
    suite = rows["vsfa_safety"]
    report_out = out.parent / "report"
    result = run_cli([bin_path("vsfa"), "report", str(out), "--out", str(report_out)], timeout=300)
    assert result.returncode == 0, result.stderr
    summary = (report_out / "report.md").read_text().split("## Summary", 1)[1]
    line = next(x for x in summary.splitlines() if x.startswith("| runs |"))
    assert f"{100 * suite['asr,none']:.1f}% (CI {100 * suite['asr_ci95_low,none']:.1f}–" \
           f"{100 * suite['asr_ci95_high,none']:.1f}, n={suite['attack_judged,none']})" in line, line


def test_include_path_route_works_with_the_hook_off(tiny_qwen2vl, tmp_path):
    """--include_path <repo>/lmms_tasks with VSFA_PLUGINS_DISABLE=1: the utils.py import registers our loader."""
    data_root = fb.build_all(tmp_path / "data", only={"xstest"})
    out = tmp_path / "runs"
    result = lmms_eval(["--tasks", "vsfa_xstest", "--include_path", str(REPO / "lmms_tasks"), "--limit", "1"],
                       tiny_qwen2vl, data_root, out, VSFA_PLUGINS_DISABLE="1")
    assert_clean(result)
    results = results_file(out)
    assert {"vsfa_xstest_safe", "vsfa_xstest_unsafe"} <= set(results["results"])
    gen = results["configs"]["vsfa_xstest_safe"]["generation_kwargs"]
    assert gen == {"max_new_tokens": 512, "temperature": 0.0, "top_p": 1.0, "num_beams": 1, "do_sample": False,
                   "until": []}  # the papers' decoding, no stop string added by lmms-eval
    definition = results["configs"]["vsfa_xstest_safe"]["metadata"]["vsfa"]["asr_definition"]
    assert definition["sampling"] == gen and definition["image_condition"] == "no_image"


def test_named_task_without_data_ends_with_the_message_and_status_2(tiny_qwen2vl, tmp_path):
    out = tmp_path / "runs"
    result = lmms_eval(["--tasks", "vsfa_mmsafetybench_sd", "--limit", "1"], tiny_qwen2vl, tmp_path / "empty", out)
    assert result.returncode == 2, (result.stdout + result.stderr)[-4000:]
    assert "[vsfa-plugins] ERROR: MM-SafetyBench data not found: expected the official release in " in result.stderr
    assert "processed_questions/NN-Scenario.json" in result.stderr and "Traceback" not in result.stderr


def test_doctor_lists_our_tasks_and_the_data_it_found(tmp_path):
    data_root = fb.build_all(tmp_path / "data", only={"xstest"})
    result = run_cli([bin_path("vsfa"), "doctor"], env={"VSFA_DATA_ROOT": str(data_root)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lmms-eval tasks: ACTIVE (hook: registered)" in result.stdout
    assert "suites: vsfa_safety, vsfa_safety_adashield, vsfa_safety_rmix" in result.stdout
    assert f"benchmark data under {data_root}" in result.stdout
    assert "  xstest          found (SYNTHETIC sample: `vsfa data sample`, not the benchmark)" in result.stdout
    assert "  vlguard         absent (expected" in result.stdout and "hub fallback ys-zong/VLGuard" in result.stdout


def test_doctor_preflight_says_which_input_kinds_work(tiny_llava):
    """`vsfa doctor --model CLASS --model-args ...` on the class that breaks on text-only requests: with our
    guard every kind works; with the hook off the preflight names the failing kind (and exits 1)."""
    args = [bin_path("vsfa"), "doctor", "--model", "llava_hf", "--model-args",
            f"pretrained={tiny_llava},device=cpu,device_map=cpu"]
    kinds = ("image", "image_after_text", "typographic", "text_only")
    result = run_cli(args, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "loaded lmms_eval.models.chat.llava_hf.LlavaHf" in result.stdout
    for kind in kinds:
        assert re.search(rf"^  {kind} +ok ", result.stdout, re.MULTILINE), result.stdout
    assert "status: OK" in result.stdout

    result = run_cli(args, env={"VSFA_PLUGINS_DISABLE": "1"}, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert re.search(r"^  text_only +FAILED .*IndexError", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^  image +ok ", result.stdout, re.MULTILINE)
    assert "status: PROBLEM: text_only failed" in result.stdout


def test_doctor_preflight_openai_keeps_the_key_out_of_its_output():
    from mock_openai import MockOpenAI

    with MockOpenAI(responder=lambda body: "A campfire.") as mock:
        result = run_cli([bin_path("vsfa"), "doctor", "--model", "openai", "--model-args",
                          f"model=served,base_url={mock.url},api_key=sk-preflight-secret-42"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.count(" ok ") == 4 and "A campfire." in result.stdout
    assert "sk-preflight-secret-42" not in result.stdout and "api_key=***" in result.stdout


def test_the_vsfa_papers_table_as_one_group(tiny_qwen2vl, tmp_path):
    """vsfa_paper_vsfa: MM-SafetyBench, FigStep and SPA-VL HarmEval in one run; the group row gives each
    member's ASR, the unweighted mean the paper's table prints and the pooled rate, each with its interval."""
    data_root = fb.build_all(tmp_path / "data", only={"mm-safetybench", "figstep", "spa-vl"})
    out = tmp_path / "runs"
    result = lmms_eval(["--tasks", "vsfa_paper_vsfa", "--limit", "1", "--gen_kwargs", "max_new_tokens=8"],
                       tiny_qwen2vl, data_root, out)
    assert_clean(result)
    results = results_file(out)
    row = {**results["results"], **results.get("groups", {})}["vsfa_paper_vsfa"]
    members = ("vsfa_mmsafetybench", "vsfa_figstep", "vsfa_spavl_harm")
    assert results["group_subtasks"]["vsfa_paper_vsfa"] == list(members)
    for name in ("asr", "asr_mean_of_benchmarks"):
        low, high = row[f"{name}_ci95_low,none"], row[f"{name}_ci95_high,none"]
        assert 0.0 <= low <= row[f"{name},none"] <= high <= 1.0, (name, row)
    rates = {m: {**results["results"], **results.get("groups", {})}[m]["asr,none"] for m in members}
    assert row["asr_mean_of_benchmarks,none"] == pytest.approx(sum(rates.values()) / 3)
    assert row["asr,none"] == row["asr_hits,none"] / row["attack_judged,none"]
