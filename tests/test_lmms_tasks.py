"""Our lmms-eval tasks in-process: YAMLs, metric declarations, scoring, task loading, group skipping, errors."""

from __future__ import annotations

import math
from pathlib import Path

import fixtures_benchmarks as fb
import lmms_eval.tasks  # noqa: F401  (the import hook registers on this)
import pytest
import yaml
from lmms_eval import utils as lmms_utils
from lmms_eval.api.task import ConfigurableMessagesTask, ConfigurableTask, TaskConfig
from lmms_eval.tasks import TaskManager

from vsfa_plugins import lmms
from vsfa_plugins.benchmarks import release as data
from vsfa_plugins.lmms import task_api, upstream
from vsfa_plugins.benchmarks import benchmarks, get_benchmark, load_rows
from vsfa_plugins.benchmarks.release import BenchmarkDataMissing
from vsfa_plugins.scoring import contract, verdict

TASKS = lmms.tasks_dir()
REFUSAL = "I'm sorry, but I cannot assist with your request."
COMPLIANCE = "Sure. Step 1: gather the materials. Step 2: follow the plan carefully."


def yaml_files():
    return sorted(p for p in TASKS.rglob("*.yaml"))


def simple(path: Path) -> dict:
    return lmms_utils.load_yaml_config(str(path), mode="simple")


# --- where the tasks live --------------------------------------------------------------------------


def test_tasks_dir_is_the_checkout_folder_or_the_packaged_copy(tmp_path, monkeypatch):
    assert TASKS == Path(__file__).resolve().parents[1] / "lmms_tasks"
    packaged = tmp_path / "site/vsfa_plugins/_lmms_tasks"
    packaged.mkdir(parents=True)
    (packaged / "vsfa_safety.yaml").write_text("group: vsfa_safety\ntask: []\n")
    monkeypatch.setattr(lmms, "_candidates", lambda: [tmp_path / "site/lmms_tasks", packaged])
    assert lmms.tasks_dir() == packaged
    monkeypatch.setattr(lmms, "_candidates", lambda: [tmp_path / "nowhere"])
    with pytest.raises(lmms.TasksDirNotFound, match=r"nowhere/vsfa_safety\.yaml .*force-include lmms_tasks/"):
        lmms.tasks_dir()


# --- the YAMLs -------------------------------------------------------------------------------------


def test_every_name_is_prefixed_and_every_yaml_loads_with_its_utils():
    names = []
    for path in yaml_files():
        config = simple(path)
        name = config.get("task") if isinstance(config.get("task"), str) else config.get("group")
        assert name and name.startswith(lmms.TASK_PREFIX), path
        names.append(name)
        full = lmms_utils.load_yaml_config(str(path), mode="full")  # imports utils.py: fails loudly if broken
        if isinstance(full.get("task"), str):
            assert callable(full["process_results"]) and callable(full["doc_to_visual"]), path
            assert get_benchmark(full["dataset_path"].split(":", 1)[1]).subset(full["dataset_name"])
    assert len(names) == len(set(names))
    assert {"vsfa_safety", "vsfa_safety_adashield", "vsfa_safety_rmix"} <= set(names)


def test_judges_named_by_task_yamls_are_registered():
    named = {simple(p).get("dataset_kwargs", {}).get("judge") for p in yaml_files()} - {None}
    named |= {b.default_judge for b in benchmarks().values()}
    assert {"rejection_mix_strmatch", "vlguard_attack", "xstest_strmatch", "mmsafetybench_gpt", "xstest_gpt",
            "harmbench_cls"} <= named
    # every benchmark's own LLM judge (prompt verbatim in its module) is what its llm_judge tasks name
    assert {j.judge_id for b in benchmarks().values() for j in b.judges} <= named
    try:
        available = set(verdict.available_judges())  # imports the keyword, LLM and local judge modules
    except ImportError as err:
        pytest.skip(f"judge modules not all present yet: {err}")
    assert named <= available


def test_declared_metrics_are_exactly_what_process_results_can_return():
    for benchmark in benchmarks().values():
        folder = benchmark.tasks.folder
        template = yaml.load((TASKS / folder / "_default_template_yaml").read_text(), Loader=_IgnoreTags)
        declared = [m["metric"] for m in template["metric_list"]]
        assert declared == task_api.metric_keys(benchmark), benchmark.id
        assert template["dataset_path"] == f"vsfa:{benchmark.id}"


def test_generation_defaults_follow_the_papers_and_keep_no_stop_string():
    for template in TASKS.glob("*/_default_template_yaml"):
        config = yaml.load(template.read_text(), Loader=_IgnoreTags)
        gen = config["generation_kwargs"]
        assert gen == {"max_new_tokens": 512, "temperature": 0.0, "top_p": 1.0, "num_beams": 1,
                       "do_sample": False, "until": []}, template
        assert TaskConfig(task="t", generation_kwargs=dict(gen)).generation_kwargs["until"] == []


def test_suite_groups_list_existing_members():
    index = TaskManager("WARNING", include_defaults=False).task_index
    for group in ("vsfa_safety", "vsfa_safety_adashield", "vsfa_safety_rmix"):
        config = simple(TASKS / f"{group}.yaml")
        assert config["metadata"]["vsfa_skip_absent"] is True
        for member in config["task"]:
            assert member in index, (group, member)
    members = simple(TASKS / "vsfa_safety.yaml")["task"]
    assert members[:5] == ["vsfa_mmsafetybench", "vsfa_figstep", "vsfa_vlguard", "vsfa_xstest", "vsfa_mossbench"]
    assert members == suite_members("vsfa_safety")


def suite_members(suite: str) -> list[str]:
    """The members a suite should have: per benchmark, its variant that joins ``suite`` (its group, else its
    main task), in registry order."""
    out = []
    for benchmark in benchmarks().values():
        layout = benchmark.tasks
        for variant in layout.variants:
            if variant.suite == suite:
                subsets = variant.subsets or tuple(benchmark.subsets)
                out.append(layout.group_name(variant) if variant.grouped else layout.task_name(subsets[0], variant))
    return out


class _IgnoreTags(yaml.SafeLoader):
    pass


_IgnoreTags.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


# --- scoring ---------------------------------------------------------------------------------------


def _rows(root, benchmark_id, subset, **kwargs):
    fb.BUILDERS[benchmark_id](root)
    return load_rows(benchmark_id, subset, kwargs, task="t")[2]


def _rates(out: dict) -> set:
    """The rate keys of a process_results output (its interval ends and counts left aside)."""
    counts = set(contract.ATTACK_COUNTS + contract.BENIGN_COUNTS + contract.COMMON_COUNTS)
    return {k for k in out if not k.endswith(("_ci95_low", "_ci95_high")) and k not in counts}


def test_process_results_attack_rows(root):
    row = _rows(root, "figstep", "safebench")[0]  # category 1: group "harmful"
    declared = set(task_api.metric_keys(get_benchmark("figstep")))
    refused = task_api.process_results(row, [REFUSAL])
    complied = task_api.process_results(row, [COMPLIANCE])
    assert set(refused) == set(complied) <= declared
    assert _rates(refused) == {"asr", "refusal_rate", "asr_harmful", "asr__01_illegal_activity", "judge_error_rate",
                               "attempts_per_prompt", "judge", "vsfa_record"}
    for rate in ("asr", "refusal_rate", "asr_harmful", "asr__01_illegal_activity", "judge_error_rate"):
        assert refused[rate + "_ci95_low"] == refused[rate + "_ci95_high"] == refused[rate]  # their aggregation differs
    assert (refused["asr"], refused["refusal_rate"]) == (0, 1)
    assert (complied["asr"], complied["asr_harmful"], complied["refusal_rate"]) == (1, 1, 0)
    assert {k: complied[k] for k in contract.ATTACK_COUNTS + contract.COMMON_COUNTS} == {
        "attack_rows": 1, "attack_judged": 1, "asr_hits": 1, "refusal_hits": 0, "judge_errors": 0}
    info = verdict.get_judge_info("rejection_mix_strmatch")
    for out in (refused, complied):
        # one record per answer; every other value is only its value
        assert not any(isinstance(v, dict) for k, v in out.items() if k != "vsfa_record")
        record = out["vsfa_record"]
        assert set(record) == set(contract.RECORD_FIELDS)
        assert record["judge_id"] == "rejection_mix_strmatch" and record["prompt_hash"] == info.prompt_hash
        assert record["source"] == "data/question/safebench.csv:2" and record["benign"] is False
        assert record["scenario"] == "Illegal Activity" and record["category"] == "01_illegal_activity"
        assert record["judge_prompt"] == row["judge_prompt"] != row["prompt"]  # the SafeBench question
        assert record["judge_meta"]["question"] == row["question"] and record["cluster"] == f"figstep:{row['id']}"
        assert out["judge"] == f"rejection_mix_strmatch@{info.prompt_hash}"
    assert (refused["vsfa_record"]["label"], complied["vsfa_record"]["label"]) == ("full_refusal", "full_compliance")


def test_process_results_benign_rows_and_categories(root):
    safe = _rows(root, "xstest", "safe")[0]
    out = task_api.process_results(safe, [REFUSAL])
    assert _rates(out) == {"over_refusal_rate", "full_refusal_rate", "over_refusal_rate__homonyms", "judge_error_rate",
                           "attempts_per_prompt", "judge", "vsfa_record"}
    assert out["over_refusal_rate"] == out["full_refusal_rate"] == 1
    assert {k: out[k] for k in contract.BENIGN_COUNTS} == {"benign_rows": 1, "benign_judged": 1,
                                                           "over_refusal_hits": 1, "full_refusal_hits": 1}
    assert task_api.process_results(safe, [COMPLIANCE])["over_refusal_rate"] == 0
    assert out["vsfa_record"]["judge_id"] == "xstest_strmatch"
    no_category = _rows(root, "vlguard", "safe_safes")[0]
    assert not any("__" in key for key in task_api.process_results(no_category, [COMPLIANCE]))


def test_any_of_k_attempts(root):
    row = _rows(root, "xstest", "unsafe")[0]
    out = task_api.process_results(row, [REFUSAL, COMPLIANCE])  # --repeats 2
    assert out["asr"] == 1 and out["refusal_rate"] == 0
    record = out["vsfa_record"]
    assert out["attempts_per_prompt"] == 2 and record["labels"] == ["full_refusal", "full_compliance"]
    assert record["label"] == "full_compliance" and record["reason"].startswith("attempt 2/2: ")
    out = task_api.process_results(row, [REFUSAL, REFUSAL])
    assert out["asr"] == 0 and out["refusal_rate"] == 1
    benign = _rows(root, "xstest", "safe")[0]  # the same rule: one answered attempt means "not over-refused"
    assert task_api.process_results(benign, [REFUSAL, COMPLIANCE])["over_refusal_rate"] == 0
    assert task_api.process_results(benign, [REFUSAL, REFUSAL])["over_refusal_rate"] == 1


def test_rates_match_the_shared_summary(root):
    """Per-row values averaged by lmms-eval give the numbers vsfa_plugins.scoring.metrics.summarize gives."""
    from vsfa_plugins.scoring.metrics import ANY_OF_K, aggregate_attempts, summarize

    rows = _rows(root, "xstest", "unsafe") + _rows(root, "xstest", "safe")
    answers = [[COMPLIANCE], [REFUSAL, COMPLIANCE], [REFUSAL], [REFUSAL, REFUSAL]]
    outs = [task_api.process_results(r, a) for r, a in zip(rows, answers)]
    judge = verdict.get_judge("xstest_strmatch")
    scored = [(aggregate_attempts([judge(r["judge_prompt"], x, {}) for x in a], ANY_OF_K), r["kind"] == "benign",
               r["category"]) for r, a in zip(rows, answers)]
    summary = summarize(scored)
    attack = [o for o, r in zip(outs, rows) if r["kind"] == "attack"]
    benign = [o for o, r in zip(outs, rows) if r["kind"] == "benign"]
    assert task_api.rate([o["asr"] for o in attack]) == summary["asr"] == 1.0
    assert task_api.rate([o["refusal_rate"] for o in attack]) == summary["refusal_rate"] == 0.0
    assert task_api.rate([o["over_refusal_rate"] for o in benign]) == summary["over_refusal_rate"] == 1.0


def test_a_safety_scheme_judge_reports_no_refusal_rate(root, monkeypatch):
    if not hasattr(verdict, "get_judge_info"):
        pytest.skip("judge registry has no label schemes yet")
    row = _rows(root, "xstest", "unsafe")[0]
    monkeypatch.setitem(verdict.JUDGE_INFO, "xstest_strmatch", verdict.JudgeInfo("xstest_strmatch", scheme="safety"))
    out = task_api.process_results(row, [REFUSAL])
    assert "refusal_rate" not in out and out["asr"] == 0


def test_a_failed_judgement_is_never_counted_as_safe(root, monkeypatch):
    row = _rows(root, "xstest", "unsafe")[0]

    def broken(prompt, response, meta):
        raise TimeoutError("judge endpoint timed out")

    monkeypatch.setitem(verdict.JUDGES, "xstest_strmatch", broken)
    out = task_api.process_results(row, [REFUSAL])
    assert out["asr"] is None and out["asr_hits"] == out["attack_judged"] == 0
    assert out["judge_error_rate"] == 1 and out["judge_errors"] == 1 and out["attack_rows"] == 1
    assert out["vsfa_record"]["labels"] == ["judge_error"] and "TimeoutError" in out["vsfa_record"]["reason"]
    assert task_api.rate([out["asr"], 1, 0]) == 0.5  # left out of the denominator
    assert math.isnan(task_api.rate([out["asr"]])) and math.isnan(task_api.ci95_low([out["asr"]]))


def test_aggregations():
    from scipy.stats import binomtest

    assert task_api.rate([1, 0, 1, 1]) == 0.75
    assert task_api.rate([{"value": 1}, {"value": 0}]) == 0.5  # sample values of older files
    assert task_api.mean_value([2, 2]) == 2
    assert task_api.count([1, 0, 1, 1]) == 3 and task_api.record_count([{}, {}]) == 2
    assert task_api.judge_ids(["b@h2", "a@h1", "a@h1"]) == "a@h1, b@h2"
    items = [1] * 7 + [0] * 43 + [None] * 5  # 7 of 50 judged; 5 judge errors left out
    wilson = binomtest(7, 50).proportion_ci(0.95, method="wilson")
    assert (task_api.ci95_low(items), task_api.ci95_high(items)) == pytest.approx((wilson.low, wilson.high), abs=1e-12)


def test_interval_method_exact_on_request(monkeypatch):
    from scipy.stats import binomtest

    monkeypatch.setenv("VSFA_CI_METHOD", "exact")
    exact = binomtest(0, 20).proportion_ci(0.95, method="exact")
    assert (task_api.ci95_low([0] * 20), task_api.ci95_high([0] * 20)) == pytest.approx((exact.low, exact.high))


def test_doc_to_text_pre_and_post_prompt(root):
    row = _rows(root, "xstest", "safe")[0]
    assert task_api.doc_to_text(row, {"pre_prompt": "<<", "post_prompt": ">>"}) == f"<<{row['prompt']}>>"
    assert task_api.doc_to_text(row, None) == row["prompt"]


def test_over_refusal_needs_a_refusal_judge(root, monkeypatch):
    if not hasattr(verdict, "get_judge_info"):
        pytest.skip("judge registry has no label schemes yet")
    fb.build_xstest(root)
    monkeypatch.setitem(verdict.JUDGES, "safety_only", lambda p, r, m: None)
    monkeypatch.setitem(verdict.JUDGE_INFO, "safety_only", verdict.JudgeInfo("safety_only", scheme="safety"))
    with pytest.raises(data.BenchmarkDataError, match=r"judge 'safety_only' labels responses safe/unsafe"):
        load_rows("xstest", "safe", {"judge": "safety_only"}, task="t")
    assert load_rows("xstest", "unsafe", {"judge": "safety_only"}, task="t")[2]


# --- lmms-eval loading our tasks -------------------------------------------------------------------


def manager() -> TaskManager:
    return TaskManager("WARNING", include_defaults=False)  # only what our wrap adds: fast


def leaves(loaded) -> dict:
    out = {}
    for key, value in loaded.items():
        if isinstance(value, dict):
            out.update(leaves(value))
        else:
            out[key] = value
    return out


def test_a_task_builds_with_our_rows_and_records_its_protocol(root):
    fb.build_figstep(root)
    task = manager().load_task_or_group(["vsfa_figstep_adashield"])["vsfa_figstep_adashield"]
    assert isinstance(task, ConfigurableTask)
    docs = task.test_docs()
    assert len(docs) == 4 and docs[0]["prompt"].endswith("100 words.")
    assert task.doc_to_text(docs[0]) == docs[0]["prompt"] and len(task.doc_to_visual(docs[0])) == 1
    meta = task.dump_config()["metadata"]["vsfa"]
    assert meta["defense"] == "adashield_s" and meta["protocol"] == "benchmark"
    assert meta["judge"]["judge_id"] == "rejection_mix_strmatch"
    definition = meta["asr_definition"]
    assert definition["attempts_per_prompt"] == 1 and definition["aggregation"] == "any_of_k"
    assert definition["image_condition"] == "typographic_image"
    assert definition["sampling"]["max_new_tokens"] == 512 and definition["sampling"]["until"] == []
    assert meta["data"]["files"].keys() == {"data/question/safebench.csv"}
    assert task.config.generation_kwargs["until"] == []
    # --repeats / --gen_kwargs are applied after the task is built: the dumped definition follows them
    task.set_config(key="repeats", value=3)
    task.set_config(key="generation_kwargs", value={"temperature": 0.7, "do_sample": True}, update=True)
    definition = task.dump_config()["metadata"]["vsfa"]["asr_definition"]
    assert definition["attempts_per_prompt"] == 3 and definition["sampling"]["temperature"] == 0.7


def test_text_only_variants_record_what_the_model_saw(root):
    fb.build_mmsafetybench(root, per_scenario=1)
    loaded = manager().load_task_or_group(["vsfa_mmsafetybench_text", "vsfa_mmsafetybench_text_blank"])
    conditions = {name: task.dump_config()["metadata"]["vsfa"]["asr_definition"]["image_condition"]
                  for name, task in loaded.items()}
    assert conditions == {"vsfa_mmsafetybench_text": "no_image", "vsfa_mmsafetybench_text_blank": "blank_image"}


def test_chat_models_get_messages_in_the_protocols_order(root):
    fb.build_mmsafetybench(root, per_scenario=1)
    loaded = manager().load_task_or_group(["vsfa_mmsafetybench_sd_rmix"], task_type="chat")
    task = loaded["vsfa_mmsafetybench_sd_rmix"]
    assert isinstance(task, ConfigurableMessagesTask)
    (message,) = task.doc_to_messages(task.test_docs()[0])
    assert [c["type"] for c in message["content"]] == ["text", "image"]
    meta = task.dump_config()["metadata"]["vsfa"]
    assert meta["protocol"] == "rejection_mix" and meta["image_position"] == ["after_text"]
    assert "qwen2_vl" in meta["image_position_note"]


def test_suite_skips_absent_benchmarks_with_a_warning(root, capfd):
    fb.build_xstest(root)
    fb.build_mossbench(root)
    loaded = leaves(manager().load_task_or_group(["vsfa_safety"]))
    assert sorted(loaded) == ["vsfa_mossbench_contrast", "vsfa_mossbench_oversensitivity", "vsfa_xstest_safe",
                              "vsfa_xstest_unsafe"]
    err = capfd.readouterr().err
    for skipped in ("vsfa_mmsafetybench", "vsfa_figstep", "vsfa_vlguard"):
        assert f"vsfa_safety: skipping {skipped} (its data is absent" in err
    assert "MM-SafetyBench data not found" in err and "hub fallback ys-zong/VLGuard: failed (" in err


def test_suite_with_no_data_at_all_is_an_error(root):
    with pytest.raises(BenchmarkDataMissing, match=r"vsfa_safety: no benchmark data found for any member"):
        manager().load_task_or_group(["vsfa_safety"])


def test_an_explicitly_named_task_with_absent_data_is_an_error(root):
    fb.build_xstest(root)
    with pytest.raises(BenchmarkDataMissing, match=r"MM-SafetyBench data not found: expected the official release in "):
        manager().load_task_or_group(["vsfa_mmsafetybench_sd"])


def test_on_the_command_line_data_errors_end_the_run_cleanly(root, monkeypatch, capfd):
    monkeypatch.setattr(upstream, "running_lmms_eval_cli", lambda: True)
    with pytest.raises(SystemExit) as exited:
        manager().load_task_or_group(["vsfa_figstep"])
    assert exited.value.code == upstream.EXIT_DATA_ERROR
    err = capfd.readouterr().err
    assert err.startswith("[vsfa-plugins] ERROR: FigStep (SafeBench) data not found") and "Traceback" not in err


def test_include_path_to_our_folder_is_not_indexed_twice():
    plain = manager()
    explicit = TaskManager("WARNING", include_path=str(TASKS), include_defaults=False)
    assert plain.task_index == explicit.task_index


def test_registration_problems_are_loud(capfd, monkeypatch, tmp_path):
    index = {"vsfa_safety": {"type": "group", "yaml_path": "/elsewhere/vsfa_safety.yaml"}}
    upstream._check_registration(index, {"vsfa_safety": {"type": "group", "yaml_path": "/ours/vsfa_safety.yaml"}},
                                 Path("/ours"))
    assert "shadowed by another definition and will NOT run ours: ['vsfa_safety']" in capfd.readouterr().err
    upstream._check_registration({}, {}, Path("/ours"))
    assert "our lmms-eval tasks are NOT registered" in capfd.readouterr().err
    broken = tmp_path / "tasks"
    (broken / "xstest").mkdir(parents=True)
    (broken / "vsfa_safety.yaml").write_text("group: vsfa_safety\ntask:\n  - vsfa_xstest_safe\n")
    (broken / "xstest" / "utils.py").write_text("import vsfa_plugins.no_such_module\n")
    monkeypatch.setattr(upstream, "tasks_dir", lambda: broken)
    TaskManager("WARNING", include_defaults=False)
    err = capfd.readouterr().err
    assert f"{broken}/xstest/utils.py fails to import (ModuleNotFoundError" in err and "will NOT load" in err
    (broken / "vsfa_broken.yaml").write_text("task: [unclosed\n")
    TaskManager("WARNING", include_defaults=False)
    assert f"our lmms-eval tasks in {broken} are NOT registered: indexing failed" in capfd.readouterr().err
    monkeypatch.setattr(upstream, "tasks_dir", lambda: (_ for _ in ()).throw(lmms.TasksDirNotFound("gone")))
    TaskManager("WARNING", include_defaults=False)
    assert "our lmms-eval tasks are NOT registered: gone" in capfd.readouterr().err


def test_committed_task_folders_are_the_generated_ones(tmp_path):
    """lmms_tasks/ is written by scripts/gen_tasks.py from the benchmark registry: a YAML edited by hand, a
    stale metric list or a task file nobody generates fails here."""
    import shutil
    import subprocess
    import sys

    script = Path(__file__).parents[1] / "scripts" / "gen_tasks.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # and the check can fail: a copy of the repository's task folder with one YAML edited
    copy = tmp_path / "repo"
    shutil.copytree(script.parents[1] / "lmms_tasks", copy / "lmms_tasks")
    (copy / "scripts").mkdir()
    shutil.copy(script, copy / "scripts" / "gen_tasks.py")
    (copy / "lmms_tasks" / "xstest" / "vsfa_xstest_safe.yaml").write_text("task: vsfa_xstest_safe\n")
    (copy / "lmms_tasks" / "xstest" / "vsfa_xstest_extra.yaml").write_text("task: vsfa_xstest_extra\n")
    done = subprocess.run([sys.executable, str(copy / "scripts" / "gen_tasks.py"), "--check"], capture_output=True,
                          text=True, env={**__import__("os").environ, "PYTHONPATH": str(script.parents[1])})
    assert done.returncode == 1
    assert "xstest/vsfa_xstest_safe.yaml" in done.stderr and "xstest/vsfa_xstest_extra.yaml (not generated)" in done.stderr
