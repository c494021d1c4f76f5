"""LLaMA-Factory preprocessing time of our formats vs the same content in stock ``sharegpt``.

The same rows (one image, one question, one answer; every 10th a rejection row) are written three
ways — ``vsfa``, ``rejection_mix`` and ``sharegpt`` — and run through LLaMA-Factory's own
``get_dataset`` (load → our pre-load validation → convert → tokenize) with a tiny Qwen2-VL tokenizer
and processor, in the same process, alternating the order over rounds and keeping each format's best
time. The figure is ``time(ours) / time(sharegpt)``; target ≤ 1.05.

    python benchmarks/convert_overhead.py [--rows 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from PIL import Image

TARGET = 1.05


def write_datasets(root: str, rows: int) -> None:
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    for i in range(16):
        Image.new("RGB", (56, 56), (i * 15, 100, 200 - i * 10)).save(os.path.join(root, "images", f"{i}.png"))
    vsfa, rmix, sharegpt = [], [], []
    for i in range(rows):
        image = f"images/{i % 16}.png"
        question = f"How many objects of colour {i % 7} can you count in picture {i}?"
        rejection = i % 10 == 0
        answer = "I'm sorry, but I cannot assist with your request" if rejection else f"There are {i % 5} objects."
        vsfa.append({"id": str(i), "images": [image], "turns": [{"question": question, "answer": answer}]})
        conversations = [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": answer}]
        rmix.append({"id": str(i), "kind": "rejection" if rejection else "instruct", "image": image,
                     "conversations": conversations})
        sharegpt.append({"conversations": conversations, "images": [image]})
    for name, data in (("vsfa", vsfa), ("rmix", rmix), ("sharegpt", sharegpt)):
        with open(os.path.join(root, f"{name}.json"), "w") as f:
            json.dump(data, f)
    info = {
        "bench_vsfa": {"file_name": "vsfa.json", "formatting": "vsfa"},
        "bench_rejection_mix": {"file_name": "rmix.json", "formatting": "rejection_mix"},
        "bench_sharegpt": {"file_name": "sharegpt.json", "formatting": "sharegpt",
                           "columns": {"messages": "conversations", "images": "images"}},
    }
    with open(os.path.join(root, "dataset_info.json"), "w") as f:
        json.dump(info, f)


def preprocess_seconds(model_dir: str, data_dir: str, dataset: str, out_dir: str) -> float:
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    args = dict(
        model_name_or_path=model_dir, stage="sft", do_train=True, finetuning_type="lora", dataset_dir=data_dir,
        dataset=dataset, template="qwen2_vl", cutoff_len=512, output_dir=out_dir, overwrite_cache=True,
        report_to="none", image_max_pixels=3136,
    )
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    start = time.perf_counter()
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    elapsed = time.perf_counter() - start
    assert len(module["train_dataset"]) > 0
    return elapsed


def run(quick: bool = False, rows: int | None = None, rounds: int = 2) -> dict:
    import datasets
    from transformers.utils import logging as hf_logging

    import llamafactory.data  # noqa: F401  (registers our formats through the import hook)
    from vsfa_plugins.testing.tiny import ensure_tiny_model

    rows = rows or (2000 if quick else 20000)
    datasets.disable_progress_bars()
    hf_logging.set_verbosity_error()
    model_dir = str(ensure_tiny_model("qwen2vl"))
    with tempfile.TemporaryDirectory(prefix="vsfa-bench-") as root:
        os.environ["HF_DATASETS_CACHE"] = os.path.join(root, "cache")
        write_datasets(root, rows)
        names = ["bench_sharegpt", "bench_vsfa", "bench_rejection_mix"]
        best = {n: float("inf") for n in names}
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                best[name] = min(best[name], preprocess_seconds(model_dir, root, name, os.path.join(root, "out")))
    base = best["bench_sharegpt"]
    return {
        "rows": rows,
        "sharegpt_s": round(base, 3),
        "vsfa_s": round(best["bench_vsfa"], 3),
        "rejection_mix_s": round(best["bench_rejection_mix"], 3),
        "convert_overhead_vsfa": round(best["bench_vsfa"] / base, 3),
        "convert_overhead_rejection_mix": round(best["bench_rejection_mix"] / base, 3),
        "target": f"<= {TARGET}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2,000 rows")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, rows=None if args.quick else args.rows, rounds=args.rounds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
