"""The papers' model families end to end, each as a tiny random model of its exact architecture.

Per family (README "Model families"): (a) the real ``llamafactory-cli train`` of the family's recipe with its
documented template on both formats at once, and the EOS labels read back from the tokenized dataset that
very run saved (``tokenized_path``); (b) the real ``lmms-eval --model <the class a lab uses> --tasks
vsfa_safety --limit 1`` with every benchmark's results present. lmms-eval exits 0 even when a task dies, so
(b) checks the results file, never the exit code alone. Plus ``--model openai`` against a local mock server,
and Yi-VL's missing evaluation route pinned.

Cost on 2 CPU cores: each tiny model is built once (seconds); a train run ~20 s, an lmms-eval run ~10-25 s.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import fixtures_benchmarks as fb
import pytest
from conftest import CONFIGS, EXAMPLE_DATA, bin_path, run_cli
from test_lmms_cli import SUITE_TASKS, assert_clean, results_file

from vsfa_plugins.records import REFUSAL_SENTENCE

pytestmark = pytest.mark.slow
IGNORE = -100


@dataclass(frozen=True)
class Family:
    template: str  # LLaMA-Factory `template:`
    recipe: str  # the recipe of the paper that trains this family (the other one differs only in LoRA/ZeRO)
    lmms_model: str | None  # lmms-eval `--model` (None: no class loads this family, see the README)
    model_args: str = ""  # lmms-eval `--model_args` beyond pretrained/device (image size caps for CPU)


#: the matrix; the README's model-family tables say the same
FAMILIES = {
    "qwen2vl": Family("qwen2_vl", "vsfa_qwen2vl.yaml", "qwen2_vl", "max_pixels=12544"),
    "qwen2_5vl": Family("qwen2_vl", "vsfa_qwen2vl.yaml", "qwen2_5_vl", "max_pixels=12544"),
    "qwen3vl": Family("qwen3_vl_nothink", "vsfa_qwen2vl.yaml", "qwen3_vl", "max_pixels=16384,min_pixels=4096"),
    "llava": Family("llava", "rejection_mix_llava15.yaml", "llava_hf"),
    "llava_next_mistral": Family("vsfa_llava_next_mistral", "rejection_mix_llava15.yaml", "llava_hf"),
    "yi_vl": Family("yi_vl", "rejection_mix_llava15.yaml", None),
}
#: both formats in one LLaMA-Factory run (datasets concatenate): half the CPU of a run per format
FORMATS = {"vsfa": "vsfa_example", "rejection_mix": "rejection_mix_example"}
CPU_OVERRIDES = [
    "deepspeed=null", "bf16=false", "max_steps=1", "logging_steps=1", "save_steps=1000", "lora_rank=8",
    "lora_alpha=16", "preprocessing_num_workers=null", "dataloader_num_workers=0", "per_device_train_batch_size=1",
    "gradient_accumulation_steps=1", "plot_loss=false", "overwrite_cache=true",
]


def test_the_matrix_covers_every_tiny_family():
    from vsfa_plugins.testing.tiny import KINDS

    assert set(FAMILIES) == set(KINDS)


def _env() -> dict:
    venv_bin = str(Path(bin_path("lmms-eval")).parent)
    return {"PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1"}


# --- (a) training, both formats, EOS labels from LLaMA-Factory's own tokenized data ---------------------


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_train_both_formats_and_eos_labels(kind, tiny_model, tmp_path):
    from datasets import load_from_disk
    from transformers import AutoConfig, AutoTokenizer

    family, model_dir = FAMILIES[kind], tiny_model(kind)
    out, tokenized = tmp_path / "out", tmp_path / "tokenized"
    result = run_cli([bin_path("llamafactory-cli"), "train", str(CONFIGS / family.recipe),
                      f"model_name_or_path={model_dir}", f"template={family.template}",
                      f"dataset={','.join(FORMATS.values())}", f"output_dir={out}", f"tokenized_path={tokenized}",
                      *CPU_OVERRIDES], env=_env(), timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert all(f"[vsfa-plugins] {fmt}:" in log for fmt in FORMATS), log[-4000:]
    entries = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in entries if "loss" in e]
    assert len(losses) == 1 and losses[0] > 0, entries
    assert (out / "adapter_model.safetensors").stat().st_size > 0
    if kind == "yi_vl":
        assert "Detected Yi-VL model, applying projector patch." in log  # LLaMA-Factory loaded Yi-VL's projector

    # the rows LLaMA-Factory tokenized in this run, in dataset order (saved before any shuffling)
    rows = list(load_from_disk(str(tokenized))["train"])
    source = [(fmt, src) for fmt, name in FORMATS.items()
              for src in json.loads((EXAMPLE_DATA / f"{name}.json").read_text())]
    assert len(rows) == len(source)  # nothing dropped
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    eos = tokenizer.eos_token_id
    config = AutoConfig.from_pretrained(model_dir)
    image_token = getattr(config, "image_token_id", None) or config.image_token_index
    for row, (fmt, src) in zip(rows, source):
        trained_eos = sum(label == eos for label in row["labels"])
        trained = tokenizer.decode([t for t in row["labels"] if t != IGNORE])
        assert (image_token in row["input_ids"]) == bool(src.get("images") or src.get("image")), src["id"]
        if fmt == "vsfa":
            assert trained_eos == len(src["turns"]), (src["id"], trained)  # every reply's EOS is trained
            assert all(t["answer"] in trained for t in src["turns"])
        elif src["kind"] == "rejection":
            assert trained_eos == 0 and REFUSAL_SENTENCE in trained, (src["id"], trained)  # EOS masked
            last_eos = max(i for i, t in enumerate(row["input_ids"]) if t == eos)
            assert row["labels"][last_eos] == IGNORE
        else:
            assert trained_eos == 1, (src["id"], trained)


# --- (b) lmms-eval with the class a lab uses: the whole suite, every benchmark in the results -----------


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return fb.build_all(tmp_path_factory.mktemp("benchmarks"))


def lmms_eval(model: str, model_args: str, data_root: Path, out: Path, *extra: str):
    return run_cli([bin_path("lmms-eval"), "--model", model, "--model_args", model_args, "--tasks", "vsfa_safety",
                    "--limit", "1", "--gen_kwargs", "max_new_tokens=8", "--log_samples", *extra,
                    "--output_path", str(out)], cwd=out.parent, env={**_env(), "VSFA_DATA_ROOT": str(data_root)},
                   timeout=540)


def assert_every_benchmark(out: Path) -> dict:
    results = results_file(out)
    assert set(SUITE_TASKS) <= set(results["results"]), sorted(set(SUITE_TASKS) - set(results["results"]))
    for task, main in SUITE_TASKS.items():
        got = results["results"][task]
        assert 0.0 <= got[f"{main},none"] <= 1.0 and got["judge_error_rate,none"] == 0.0, (task, got)
        assert results["n-samples"][task]["effective"] == 1
    for task in ("vsfa_xstest_safe", "vsfa_xstest_unsafe", "vsfa_mmsafetybench_text"):  # text-only, and said so
        assert results["configs"][task]["metadata"]["vsfa"]["asr_definition"]["image_condition"] == "no_image"
    return results


@pytest.mark.parametrize("kind", sorted(k for k, f in FAMILIES.items() if f.lmms_model))
def test_lmms_eval_suite_with_the_family_class(kind, tiny_model, data_root, tmp_path):
    family = FAMILIES[kind]
    model_args = f"pretrained={tiny_model(kind)},device=cpu,device_map=cpu"
    if family.model_args:
        model_args += "," + family.model_args
    out = tmp_path / "runs"
    result = lmms_eval(family.lmms_model, model_args, data_root, out)
    output = assert_clean(result)
    assert " in generating" not in output  # llava_hf logs a failed generate() and scores "" instead
    assert_every_benchmark(out)


def test_openai_class_against_a_local_server(data_root, tmp_path):
    """The route for a model served by vLLM / SGLang: image requests carry the image, text-only ones none."""
    from mock_openai import MockOpenAI

    seen: list[dict] = []
    lock = threading.Lock()

    def responder(body: dict) -> str:
        with lock:
            seen.append(body)
        return "I'm sorry, but I cannot assist with your request."

    out = tmp_path / "runs"
    with MockOpenAI(responder=responder) as mock:
        result = lmms_eval("openai", f"model=served-model,base_url={mock.url},api_key=sk-test,num_concurrent=1",
                           data_root, out)
    assert_clean(result)
    results = assert_every_benchmark(out)
    assert results["results"]["vsfa_xstest_unsafe"]["asr,none"] == 0.0  # the refusal was scored as one
    kinds = {_has_image(body) for body in seen}
    assert kinds == {True, False} and len(seen) == len(SUITE_TASKS)


def _has_image(body: dict) -> bool:
    return any(isinstance(part, dict) and part.get("type") == "image_url"
               for message in body["messages"] if isinstance(message.get("content"), list)
               for part in message["content"])


# --- Yi-VL: trainable through LLaMA-Factory, but no lmms-eval class can load it ---------------------------


def test_yi_vl_cannot_be_loaded_by_transformers_llava(tiny_model):
    """Why the matrix has no lmms-eval run for Yi-VL (README): lmms-eval 0.7.3 has no Yi-VL class, and its
    ``llava_hf`` builds transformers' LLaVA projector, which cannot hold Yi-VL's. Fails — and so asks for a
    matrix entry — the day transformers loads the checkpoint as it is."""
    from transformers import LlavaForConditionalGeneration

    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        LlavaForConditionalGeneration.from_pretrained(tiny_model("yi_vl"))
