"""LoRA SFT tokens/s through our ``vsfa`` format vs the same content in stock ``sharegpt``, on a GPU.

Opt-in (``python benchmarks/run.py --gpu``): it needs a CUDA machine. The model is a *random-init,
full-size* Qwen2-VL-2B built from its published config (no weights are downloaded), saved to a temp dir
with the tiny model's tokenizer and processor files (the tiny tokenizer's ids all fit inside the 151,936-row
embedding; the config's image / video / vision-start / vision-end token ids are set from that tokenizer).
The same rows (one 224x224 image, one question, one answer) are written as ``vsfa`` and as ``sharegpt``,
and each is trained with the real ``llamafactory-cli train llamafactory_configs/vsfa_qwen2vl.yaml`` plus
overrides (single process, no DeepSpeed, batch 4, ``include_num_input_tokens_seen=true``), alternating
the order over rounds and keeping each format's best figure.

Tokens/s comes from LLaMA-Factory's ``trainer_log.jsonl``: with ``logging_steps=1`` every step logs
``total_tokens`` and ``throughput`` = total_tokens / seconds since train start, so each step's elapsed time
is ``total_tokens / throughput``. ``tokens_per_s`` is the steady-state rate after the first ``skip_steps``
steps (CUDA warm-up, allocator growth); ``tokens_per_s_incl_warmup`` is the whole run
(``num_input_tokens_seen / train_runtime`` from ``all_results.json``). The figure is
``tokens_per_s(vsfa) / tokens_per_s(sharegpt)``; target >= 0.99 (the format only changes preprocessing,
which happens before training, so the two runs see identical token streams).

MFU (model FLOPs utilisation) uses the usual 6·N·D estimate::

    mfu = 6 * N * tokens_per_s / peak_flops

where N is every parameter the forward pass touches — trainable (LoRA) + frozen, language model *and*
vision tower, as LLaMA-Factory's "all params" log line counts them — and peak_flops is the dense bf16
peak of the GPU (table below, by ``torch.cuda.get_device_name``; null when the GPU is not in the table or
on CPU). It is a convention, not a FLOP count: LoRA skips the frozen weights' gradient GEMMs (≈4·N per
token would be closer) and the vision tower sees 4 patches per merged image token; tokens are all input
tokens including padding (``include_num_input_tokens_seen=true`` = "all").

Optionally (``gen=True``, default) it also times greedy generation with ``transformers``: 16 image+text
prompts, 64 new tokens each (``min_new_tokens=64`` so a random model cannot stop early), one batch; the
figure is samples/s.

    python benchmarks/gpu_throughput.py [--quick] [--tiny --device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TARGET = 0.99
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "llamafactory_configs", "vsfa_qwen2vl.yaml")

#: dense bf16 peak FLOP/s by GPU name substring (first match wins; "H100 PCIe" before "H100")
PEAK_BF16_FLOPS = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM
    ("H200", 989e12),
    ("A100", 312e12),
]

# Qwen2-VL-2B-Instruct, from its HF config:
# https://huggingface.co/Qwen/Qwen2-VL-2B-Instruct/blob/main/config.json
QWEN2VL_2B_TEXT = dict(
    vocab_size=151936,
    hidden_size=1536,
    intermediate_size=8960,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    hidden_act="silu",
    max_position_embeddings=32768,
    max_window_layers=28,
    rms_norm_eps=1e-6,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    tie_word_embeddings=True,
)
QWEN2VL_2B_VISION = dict(
    depth=32,
    embed_dim=1280,
    num_heads=16,
    hidden_size=1536,
    mlp_ratio=4,
    in_channels=3,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    hidden_act="quick_gelu",
)
#: Qwen2-VL's image processor pixel limits (preprocessor_config.json of the same repo)
QWEN2VL_PIXELS = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}


def qwen2vl_2b_config(token_ids: dict | None = None):
    """``Qwen2VLConfig`` with the published Qwen2-VL-2B-Instruct dimensions.

    ``token_ids`` (image/video/vision_start/vision_end and text bos/eos/pad) default to the real
    checkpoint's; the benchmark passes the tiny tokenizer's instead.
    """
    from transformers import Qwen2VLConfig

    ids = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
               vision_end_token_id=151653, bos_token_id=151643, eos_token_id=151645, pad_token_id=151643)
    ids.update(token_ids or {})
    text = dict(QWEN2VL_2B_TEXT, bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"],
                pad_token_id=ids["pad_token_id"])
    return Qwen2VLConfig(
        text_config=text,
        vision_config=dict(QWEN2VL_2B_VISION),
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=True,
    )


def count_params(config) -> int:
    """Parameter count of ``Qwen2VLForConditionalGeneration(config)`` built on the meta device (no memory)."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters())  # parameters() de-duplicates tied weights


def build_2b_model(out_dir: str, tiny_dir: str, device: str) -> str:
    """Random-init Qwen2-VL-2B (bf16) in ``out_dir`` with the tiny model's tokenizer/processor files."""
    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    with open(os.path.join(tiny_dir, "config.json")) as f:
        tiny = json.load(f)
    ids = {k: tiny[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    ids.update({k: tiny["text_config"][k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")})
    config = qwen2vl_2b_config(ids)
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Qwen2VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default_dtype)
    model.generation_config = GenerationConfig.from_pretrained(tiny_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    del model
    for name in os.listdir(tiny_dir):
        if name.startswith(("tokenizer", "chat_template", "processor", "preprocessor", "video_preprocessor")):
            shutil.copy(os.path.join(tiny_dir, name), out_dir)
    # The tiny processor caps images at 112x112; give the 2B model the real Qwen2-VL pixel limits
    # (a 224x224 image -> 256 patches -> 64 image tokens).
    proc_path = os.path.join(out_dir, "processor_config.json")
    if os.path.exists(proc_path):
        with open(proc_path) as f:
            proc = json.load(f)
        for key in ("image_processor", "video_processor"):
            if key in proc and "size" in proc[key]:
                proc[key]["size"] = dict(QWEN2VL_PIXELS)
        with open(proc_path, "w") as f:
            json.dump(proc, f, indent=2)
    return out_dir


def write_datasets(root: str, rows: int, size: int) -> None:
    from PIL import Image

    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    for i in range(16):
        img = Image.new("RGB", (size, size), (i * 15, 100, 200 - i * 10))
        for x in range(0, size, 8):  # some structure, so images do not compress to nothing
            img.putpixel((x, (x * (i + 3)) % size), (255, 255, 255))
        img.save(os.path.join(root, "images", f"{i}.png"))
    vsfa, sharegpt = [], []
    for i in range(rows):
        image = f"images/{i % 16}.png"
        question = (f"Describe picture {i} in detail: what objects of colour {i % 7} are there, how many, "
                    f"and where are they placed relative to each other?")
        answer = (f"The picture shows {i % 5 + 2} objects. They are arranged in a loose row from left to right, "
                  f"the largest one near the centre and the smaller ones towards the edges. The colour is "
                  f"mostly shade {i % 7}, with a lighter background and a few white marks scattered around. "
                  f"Nothing in the image suggests motion; it looks like a simple still arrangement.")
        vsfa.append({"id": str(i), "images": [image], "turns": [{"question": question, "answer": answer}]})
        conversations = [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": answer}]
        sharegpt.append({"conversations": conversations, "images": [image]})
    for name, data in (("vsfa", vsfa), ("sharegpt", sharegpt)):
        with open(os.path.join(root, f"{name}.json"), "w") as f:
            json.dump(data, f)
    info = {
        "bench_vsfa": {"file_name": "vsfa.json", "formatting": "vsfa"},
        "bench_sharegpt": {"file_name": "sharegpt.json", "formatting": "sharegpt",
                           "columns": {"messages": "conversations", "images": "images"}},
    }
    with open(os.path.join(root, "dataset_info.json"), "w") as f:
        json.dump(info, f)


def _cli() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "llamafactory-cli")
    return candidate if os.path.exists(candidate) else "llamafactory-cli"


def train_once(model_dir: str, data_dir: str, dataset: str, out_dir: str, *, max_steps: int, bf16: bool,
               skip_steps: int, cuda: bool) -> dict:
    overrides = [
        f"model_name_or_path={model_dir}", f"output_dir={out_dir}", f"dataset_dir={data_dir}", f"dataset={dataset}",
        "deepspeed=null", f"bf16={'true' if bf16 else 'false'}", f"max_steps={max_steps}", "logging_steps=1",
        "save_steps=1000000", "per_device_train_batch_size=4", "gradient_accumulation_steps=1",
        "include_num_input_tokens_seen=true", "plot_loss=false", "overwrite_cache=true", "warmup_ratio=0.0",
    ]
    if not cuda:
        overrides += ["preprocessing_num_workers=null", "dataloader_num_workers=0"]
    env = dict(os.environ)
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               HF_DATASETS_CACHE=os.path.join(data_dir, "cache"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               WANDB_DISABLED="true", TOKENIZERS_PARALLELISM="false")
    if not cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""
    proc = subprocess.run([_cli(), "train", CONFIG, *overrides], cwd=REPO, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=3600)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"llamafactory-cli train ({dataset}) failed:\n{log[-3000:]}")

    with open(os.path.join(out_dir, "all_results.json")) as f:
        results = json.load(f)
    entries = [json.loads(line) for line in open(os.path.join(out_dir, "trainer_log.jsonl")) if line.strip()]
    steps = [e for e in entries if e.get("throughput") and e.get("total_tokens")]
    runtime = results.get("train_runtime")
    total = results.get("num_input_tokens_seen") or (steps[-1]["total_tokens"] if steps else None)
    out = {
        "train_runtime_s": runtime,
        "tokens_seen": total,
        "tokens_per_s_incl_warmup": round(total / runtime, 1) if total and runtime else None,
    }
    # elapsed seconds at each logged step = total_tokens / throughput (throughput is tokens / s since train start)
    times = [(e["current_steps"], e["total_tokens"], e["total_tokens"] / e["throughput"]) for e in steps]
    if len(times) > skip_steps + 1:
        (s0, n0, t0), (s1, n1, t1) = times[skip_steps - 1] if skip_steps else (0, 0, 0.0), times[-1]
        out["tokens_per_s"] = round((n1 - n0) / (t1 - t0), 1) if t1 > t0 else out["tokens_per_s_incl_warmup"]
        out["measured_steps"] = s1 - s0
    else:
        out["tokens_per_s"] = out["tokens_per_s_incl_warmup"]
        out["measured_steps"] = len(times)
    m = re.search(r"trainable params: ([\d,]+) \|\| all params: ([\d,]+)", log)
    if m:
        out["trainable_params"] = int(m.group(1).replace(",", ""))
        out["all_params"] = int(m.group(2).replace(",", ""))
    return out


def generation_samples_per_s(model_dir: str, image_dir: str, device: str, bf16: bool, n: int = 16,
                             new_tokens: int = 64) -> dict:
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "left"
    model = Qwen2VLForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.bfloat16 if bf16 else torch.float32).to(device).eval()
    images = [Image.open(os.path.join(image_dir, f"{i % 16}.png")).convert("RGB") for i in range(n)]
    messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"What is in picture {i}?"}]}]
                for i in range(n)]
    texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True).to(device)
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=4, do_sample=False)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        output = model.generate(**inputs, **kwargs)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    generated = output.shape[1] - inputs["input_ids"].shape[1]
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"samples": n, "new_tokens": int(generated), "seconds": round(elapsed, 3),
            "samples_per_s": round(n / elapsed, 2)}


def peak_flops(device_name: str | None) -> float | None:
    if not device_name:
        return None
    for key, value in PEAK_BF16_FLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


def run(quick: bool, tiny: bool = False, device: str = "cuda", gen: bool = True, rounds: int | None = None) -> dict:
    import torch

    from vsfa_plugins.testing.tiny import ensure_tiny_model

    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("gpu_throughput needs a CUDA machine (torch.cuda.is_available() is False); "
                           "use tiny=True, device='cpu' (run.py --gpu-tiny) for a CPU smoke test")
    if not cuda and not tiny:
        raise RuntimeError("gpu_throughput needs a CUDA machine for the full-size model; "
                           "only the tiny smoke test (tiny=True) runs on CPU")
    device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
    bf16 = cuda
    if tiny:
        rows, max_steps, skip, image_size = 32, 3, 1, 224
    else:
        rows, max_steps, skip, image_size = (256, 30, 5, 224) if quick else (512, 60, 10, 224)
    rounds = rounds or (1 if (quick or tiny) else 2)

    tiny_dir = str(ensure_tiny_model("qwen2vl"))
    with tempfile.TemporaryDirectory(prefix="vsfa-gpubench-") as root:
        data_dir = os.path.join(root, "data")
        write_datasets(data_dir, rows, image_size)
        if tiny:
            model_dir = tiny_dir
        else:
            model_dir = build_2b_model(os.path.join(root, "model"), tiny_dir, device)
            if cuda:
                torch.cuda.empty_cache()
        names = ["bench_sharegpt", "bench_vsfa"]
        best: dict[str, dict] = {}
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                res = train_once(model_dir, data_dir, name, os.path.join(root, f"out-{name}-{r}"),
                                 max_steps=max_steps, bf16=bf16, skip_steps=skip, cuda=cuda)
                if name not in best or res["tokens_per_s"] > best[name]["tokens_per_s"]:
                    best[name] = res
        generation = None
        if gen:
            try:
                generation = generation_samples_per_s(model_dir, os.path.join(data_dir, "images"), device, bf16,
                                                      n=4 if tiny else 16, new_tokens=8 if tiny else 64)
            except Exception as err:  # optional figure: never hide the training figures
                generation = {"error": f"{type(err).__name__}: {err}"}

    base, ours = best["bench_sharegpt"], best["bench_vsfa"]
    n_params = ours.get("all_params")
    if n_params is None:
        config = qwen2vl_2b_config() if not tiny else None
        n_params = count_params(config) if config is not None else None
    peak = peak_flops(device_name) if cuda else None
    mfu = round(6 * n_params * ours["tokens_per_s"] / peak, 4) if (peak and n_params) else None
    return {
        "device": device_name,
        "model": "tiny-qwen2vl" if tiny else "Qwen2-VL-2B (random init, published config)",
        "rows": rows,
        "max_steps": max_steps,
        "skip_steps": skip,
        "rounds": rounds,
        "params_all": n_params,
        "params_trainable": ours.get("trainable_params"),
        "tokens_per_s": {"sharegpt": base["tokens_per_s"], "vsfa": ours["tokens_per_s"]},
        "tokens_per_s_incl_warmup": {"sharegpt": base["tokens_per_s_incl_warmup"],
                                     "vsfa": ours["tokens_per_s_incl_warmup"]},
        "train_runtime_s": {"sharegpt": base["train_runtime_s"], "vsfa": ours["train_runtime_s"]},
        "tokens_seen": {"sharegpt": base["tokens_seen"], "vsfa": ours["tokens_seen"]},
        "ratio": round(ours["tokens_per_s"] / base["tokens_per_s"], 4),
        "mfu": mfu,
        "mfu_formula": "6 * params_all * tokens_per_s(vsfa) / peak_bf16_flops",
        "peak_flops": peak,
        "generation": generation,
        "target": f">= {TARGET}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 rows, 30 steps, one round")
    parser.add_argument("--tiny", action="store_true", help="tiny model (CPU smoke test with --device cpu)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-gen", action="store_true", help="skip the generation samples/s figure")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, tiny=args.tiny, device=args.device, gen=not args.no_gen)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
