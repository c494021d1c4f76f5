"""Capability beside safety, and more than one process (issue 11).

1. Stock lmms-eval ``mmbench_en_dev_static`` — its YAML, prompt, ``process_results`` and aggregation,
   unchanged — next to ``vsfa_safety`` in ONE ``lmms-eval`` call, offline, then ``vsfa report`` on the
   run. The task reads ``dataset_path: lmms-eval-encoder/MMBench`` (config ``en``, split ``dev``) from the
   hub; a group YAML of ours lists ``{task: mmbench_en_dev_static, dataset_path: parquet, dataset_kwargs:
   {data_files: {dev: <local parquet>}}}`` (lmms-eval merges that dict over the registered task's config,
   as for MME in test_lmms_cli.py), so a tiny parquet in the hub's schema is read instead. Why this MMBench
   variant: ``mmbench_en_dev`` aggregates with ``eval_method="openai"`` — every answer the regex cannot
   map to a letter goes to GPT (``MMBench_Evaluator.extract_answer_from_item``) — while ``_static``
   aggregates with ``eval_method="static"``: letter/text matching plus ``mcq_extract``, no request at all.
   Its metric is still called ``gpt_eval_score`` (accuracy x 100), though no GPT is involved.
2. Data parallel: ``accelerate launch --num_processes 2 -m lmms_eval`` on CPU (gloo) gives the same
   per-task metrics as one process.

lmms-eval exits 0 even when a task fails, so each run is checked for tracebacks and for its results file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import fixtures_benchmarks as fb
import pytest
from conftest import bin_path, run_cli
from test_lmms_cli import assert_clean, lmms_eval, local_parquet_group

pytestmark = pytest.mark.slow

# The features of lmms-lab/MMBench, config "en", split "dev" (the dataset card's dataset_info), in its
# column order; mmbench_en_dev_static reads the same schema from its hub mirror.
MMBENCH_COLUMNS = ("index", "question", "hint", "answer", "A", "B", "C", "D", "category", "image", "source",
                   "L2-category", "comment", "split")


def results_file(out: Path) -> dict:
    """lmms-eval's results file (``<model>/<date>_results.json``), not mmbench's side file of the same ending
    (``submissions/mmbench_en_dev_static_results.json``)."""
    (path,) = [p for p in out.rglob("*_results.json") if p.parent.name != "submissions"]
    return json.loads(path.read_text())


def build_mmbench_parquet(path: Path) -> Path:
    """Four MMBench-EN dev questions (tiny images): one without a hint, one with three options only."""
    import datasets
    from PIL import Image

    string = datasets.Value("string")
    features = datasets.Features({name: string for name in MMBENCH_COLUMNS})
    features["index"] = datasets.Value("int64")
    features["image"] = datasets.Image()
    colours = ((200, 30, 30), (30, 160, 60), (40, 60, 200), (220, 200, 40))
    rows = [
        (0, "What colour is the square?", "The image shows one square.", "A", "red", "green", "blue", "yellow"),
        (1, "What colour is the square?", None, "B", "red", "green", "blue", "yellow"),
        (2, "Which colour dominates the image?", "Look at the whole picture.", "C", "red", "green", "blue", None),
        (3, "What is the colour of the shape?", None, "D", "red", "green", "blue", "yellow"),
    ]
    data = {name: [] for name in MMBENCH_COLUMNS}
    for (index, question, hint, answer, a, b, c, d), colour in zip(rows, colours):
        for name, value in (("index", index), ("question", question), ("hint", hint), ("answer", answer),
                            ("A", a), ("B", b), ("C", c), ("D", d), ("category", "attribute_recognition"),
                            ("image", Image.new("RGB", (32, 32), colour)), ("source", "fixture"),
                            ("L2-category", "finegrained_perception (instance-level)"), ("comment", None),
                            ("split", "dev")):
            data[name].append(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(data, features=features).to_parquet(str(path))
    return path


def mmbench_group(folder: Path) -> Path:
    parquet = build_mmbench_parquet(folder / "mmbench" / "dev.parquet")
    return local_parquet_group(folder, "vsfa_local_mmbench", "mmbench_en_dev_static", "dev", parquet)


def test_mmbench_beside_vsfa_safety_and_in_the_report(tiny_qwen2vl, tmp_path):
    data_root = fb.build_all(tmp_path / "data")
    include = mmbench_group(tmp_path / "capability")
    out = tmp_path / "runs"
    # mmbench's own max_new_tokens is 1024 and random weights rarely stop: --gen_kwargs bounds every task
    result = lmms_eval(["--tasks", "vsfa_safety,vsfa_local_mmbench", "--include_path", str(include),
                        "--limit", "4", "--log_samples", "--gen_kwargs", "max_new_tokens=8"],
                       tiny_qwen2vl, data_root, out, OPENAI_API_KEY="", OPENAI_API_URL="http://127.0.0.1:9/")
    output = assert_clean(result)
    results = results_file(out)

    mmbench = results["results"]["mmbench_en_dev_static"]
    assert results["n-samples"]["mmbench_en_dev_static"]["effective"] == 4
    score = mmbench["gpt_eval_score,none"]
    # the static aggregation's own record of the same number (accuracy, 0-1) and its per-sample inputs
    (details,) = out.rglob("submissions/mmbench_en_dev_static_results.json")
    assert math.isclose(score, 100 * json.loads(details.read_text())["overall_acc"])
    assert score in (0.0, 25.0, 50.0, 75.0, 100.0)
    (samples,) = out.rglob("*_samples_mmbench_en_dev_static.jsonl")
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert sorted(line["gpt_eval_score"]["index"] for line in lines) == [0, 1, 2, 3]
    assert "GPT API failed" not in output and "Failed to obtain answer via API" not in output
    # the safety suite ran in the same call
    safety = [task for task, config in results["configs"].items() if "vsfa" in (config.get("metadata") or {})]
    from test_lmms_cli import SUITE_TASKS  # every leaf of vsfa_safety, from the registry

    assert set(safety) == set(SUITE_TASKS) and all(results["n-samples"][task]["effective"] >= 1 for task in safety)

    report = tmp_path / "report"
    done = run_cli([bin_path("vsfa"), "report", str(out), "--name", "tiny", "--out-dir", str(report)])
    assert done.returncode == 0, done.stdout + done.stderr
    shown = f"mmbench_en_dev_static gpt_eval_score {score:g}"
    assert shown in done.stdout, done.stdout  # the summary: capability next to pooled ASR / over-refusal
    markdown = (report / "report.md").read_text()
    assert f"| mmbench_en_dev_static | gpt_eval_score ↑ | {score:g} (n=4) |" in markdown, markdown


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def per_doc(out: Path, task: str) -> dict[int, tuple]:
    """doc_id -> (response, our metric dicts) from a samples file; a doc logged twice fails the test."""
    (path,) = out.rglob(f"*_samples_{task}.jsonl")
    docs = {}
    for line in path.read_text().splitlines():
        sample = json.loads(line)
        assert sample["doc_id"] not in docs, (task, sample["doc_id"])
        docs[sample["doc_id"]] = (sample["filtered_resps"], {k: sample[k] for k in ("asr", "over_refusal_rate",
                                                                                     "refusal_rate") if k in sample})
    return docs


def test_two_processes_on_cpu_give_the_metrics_of_one(tiny_qwen2vl, tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2`` with no GPU visible: torchrun starts two ranks that
    form a MULTI_CPU (gloo) group. (Without ``--multi_gpu`` accelerate's simple launcher starts ONE process on
    a machine without GPUs, whatever --num_processes says.) FigStep with --limit 3 splits unevenly (2 + 1)."""
    data_root = fb.build_all(tmp_path / "data", only={"xstest", "figstep"})
    args = ["--tasks", "vsfa_xstest,vsfa_figstep", "--limit", "3", "--log_samples", "--gen_kwargs",
            "max_new_tokens=8"]
    one = tmp_path / "one" / "runs"
    one.parent.mkdir()
    assert_clean(lmms_eval(args, tiny_qwen2vl, data_root, one))

    two = tmp_path / "two" / "runs"
    two.parent.mkdir()
    venv_bin = str(Path(bin_path("lmms-eval")).parent)
    launch = [bin_path("accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
              "-m", "lmms_eval", "--model", "qwen2_vl", "--model_args",
              f"pretrained={tiny_qwen2vl},device=cpu,device_map=cpu,max_pixels=12544", *args,
              "--output_path", str(two)]
    env = {"VSFA_DATA_ROOT": str(data_root), "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    output = assert_clean(run_cli(launch, cwd=two.parent, env=env, timeout=540))
    assert "Running on rank 1 " in output, output[-4000:]  # two ranks really ran

    single, parallel = results_file(one), results_file(two)
    tasks = ["vsfa_figstep", "vsfa_xstest_safe", "vsfa_xstest_unsafe"]
    assert set(tasks) <= set(single["results"]) and set(single["results"]) == set(parallel["results"])
    for task in single["results"]:
        assert parallel["results"][task] == single["results"][task], task
    for task in tasks:
        assert parallel["n-samples"][task] == single["n-samples"][task], task
        docs = per_doc(one, task)
        assert len(docs) == single["n-samples"][task]["effective"]
        assert per_doc(two, task) == docs, task  # every doc once, same response, same verdict
