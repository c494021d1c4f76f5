"""``vsfa demo``: the whole pipeline, through the real tools, on small local stand-ins.

Every step calls a public command as a subprocess — ``vsfa build-vsfa``, ``vsfa build-rejection-mix``,
``vsfa render-typographic``, ``llamafactory-cli train`` / ``export``, ``lmms-eval``, ``vsfa report`` — so
the demo exercises exactly what a user runs. Defaults are offline and CPU-only: a tiny random-weight
Qwen2-VL, procedural VSFA data, a typographic attack set rendered from a short mild question list that
ships with the project, and the keyword judge. ``--model``, ``--data-root``, ``--tasks`` and ``--judge``
turn the same command into a real experiment.

With a random tiny model the numbers only show that the pipeline works; the rejection-mix model learns
to emit the refusal sentence, so its keyword ASR falls and its over-refusal rises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

#: lmms-eval tasks of the default demo: two typographic attacks and one over-refusal set
DEMO_TASKS = "vsfa_figstep,vsfa_mmsafetybench_typo,vsfa_xstest_safe"

DISCLAIMER = (
    "NOTE: the default demo runs a tiny RANDOM-WEIGHT model on synthetic data. Its numbers only show that the\n"
    "pipeline works end to end (the rejection-mix model learns to emit the refusal sentence, so keyword ASR\n"
    "falls and over-refusal rises). They say nothing about VSFA or rejection-mix on real models. Point the\n"
    "same command at a real model (--model), real benchmark data (--data-root) and a real judge (--judge)."
)


class StepFailed(RuntimeError):
    pass


@dataclass
class DemoConfig:
    out: Path
    model: str | None = None  # None: the tiny random Qwen2-VL (built once, cached)
    template: str = "qwen2_vl"
    data_root: Path | None = None  # None: render the typographic set + demo XSTest file
    tasks: str = DEMO_TASKS
    judge: str | None = None  # None: each task's default keyword judge; else `vsfa score --judge` re-judges
    limit: int | None = None
    max_new_tokens: int = 48
    train_steps: int = 60
    # The paper mixes ~10% rejection rows into 665k instruct rows. A 60-step run of a random tiny model
    # on a few dozen rows needs the refusal to dominate before greedy decoding emits it.
    rejection_share: float = 2 / 3
    learning_rate: float = 5e-3
    num_images: int = 24
    seed: int = 0
    device: str = "cpu"
    python_bin: str = field(default_factory=lambda: os.path.dirname(sys.executable))


class Demo:
    def __init__(self, cfg: DemoConfig, log=print):
        self.cfg = cfg
        self.out = cfg.out.resolve()
        self.logs = self.out / "logs"
        self.log = log
        self.env = dict(os.environ)
        self.env["PATH"] = cfg.python_bin + os.pathsep + self.env.get("PATH", "")
        self.env.setdefault("HF_HUB_OFFLINE", "1" if cfg.model is None else self.env.get("HF_HUB_OFFLINE", "0"))
        self.env.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.env.setdefault("WANDB_DISABLED", "true")
        self.timings: dict[str, float] = {}

    # --- plumbing -------------------------------------------------------------------------------

    def tool(self, name: str) -> str:
        path = os.path.join(self.cfg.python_bin, name)
        return path if os.path.exists(path) else name

    def step(self, name: str, args: list[str], env: dict | None = None) -> None:
        """Run one public command; on failure stop with the step name and the tail of its log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        self.log(f"[demo] {name} ...")
        start = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as log_file:
            log_file.write("$ " + " ".join(args) + "\n")
            log_file.flush()
            result = subprocess.run(
                args, stdout=log_file, stderr=subprocess.STDOUT, env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL, cwd=self.out,
            )
        self.timings[name] = round(time.perf_counter() - start, 1)
        if result.returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            raise StepFailed(f"step '{name}' failed (exit {result.returncode}); log: {log_path}\n" + "\n".join(tail))
        self.log(f"[demo] {name} done in {self.timings[name]} s")

    # --- the pipeline ---------------------------------------------------------------------------

    def run(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        model = self.base_model()
        data_root = self.benchmark_data()
        vsfa_dir, rmix_dir = self.training_data()
        runs = {"base": self.evaluate("base", model, data_root)}
        for name, config, data_dir, dataset in (
            ("vsfa", "vsfa_qwen2vl.yaml", vsfa_dir, "vsfa_image"),
            ("rejection_mix", "rejection_mix_qwen2vl.yaml", rmix_dir, "rejection_mix"),
        ):
            adapter = self.train(name, config, model, data_dir, dataset)
            merged = self.export(name, model, adapter)
            runs[name] = self.evaluate(name, str(merged), data_root)
        self.step("report", [self.tool("vsfa"), "report", *[str(p) for p in runs.values()],
                             "--name", "base", "--name", "vsfa", "--name", "rejection_mix", "--out", str(self.out)])
        summary = {"out": str(self.out), "runs": {k: str(v) for k, v in runs.items()}, "timings_s": self.timings,
                   "report_html": str(self.out / "report.html"), "report_md": str(self.out / "report.md")}
        (self.out / "demo_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return summary

    def base_model(self) -> str:
        if self.cfg.model:
            return self.cfg.model
        from .testing.tiny import ensure_tiny_model

        self.log("[demo] tiny random-weight Qwen2-VL (built once, cached) ...")
        return str(ensure_tiny_model("qwen2vl"))

    def benchmark_data(self) -> Path:
        if self.cfg.data_root:
            return self.cfg.data_root.resolve()
        root = self.out / "benchmarks"
        self.step("render-typographic", [self.tool("vsfa"), "render-typographic", "--out", str(root), "--style",
                                         "both", "--placeholder-images", "procedural", "--seed", str(self.cfg.seed)])
        # an over-refusal set in XSTest's release layout: benign prompts written for this demo
        (root / "xstest").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA_DIR / "demo_xstest_prompts.csv", root / "xstest" / "xstest_prompts.csv")
        return root

    def training_data(self) -> tuple[Path, Path]:
        data = self.out / "data"
        vsfa_dir = data / "vsfa"
        self.step("build-vsfa", [self.tool("vsfa"), "build-vsfa", "--teacher", "procedural", "--num-images",
                                 str(self.cfg.num_images), "--seed", str(self.cfg.seed), "--out", str(vsfa_dir)])
        # rejection-mix: benign procedural scenes (another seed) get the refusal; VSFA's image rows are
        # the instruct data. Both as LLaVA conversations, the builder's usual input.
        benign_dir = data / "benign_scenes"
        self.step("build-benign-scenes", [self.tool("vsfa"), "build-vsfa", "--teacher", "procedural",
                                          "--num-images", str(self.cfg.num_images), "--seed",
                                          str(self.cfg.seed + 1), "--out", str(benign_dir)])
        benign = to_llava_conversations(benign_dir / "vsfa_image.jsonl", data / "benign.json", "benign-")
        # single-turn instruct rows, so the answers do not outweigh the refusals 4:1 in tokens
        instruct = to_llava_conversations(vsfa_dir / "vsfa_image.jsonl", data / "instruct.json", "instruct-",
                                          max_turns=1)
        rmix_dir = data / "rejection_mix"
        n_rejection = round(self.cfg.num_images * self.cfg.rejection_share)
        self.step("build-rejection-mix", [
            self.tool("vsfa"), "build-rejection-mix", "--benign", str(benign), "--instruct", str(instruct),
            "--num-rejection", str(n_rejection), "--num-instruct", str(self.cfg.num_images - n_rejection),
            "--seed", str(self.cfg.seed),
            "--out-dir", str(rmix_dir),
        ])
        return vsfa_dir, rmix_dir

    def train(self, name: str, config: str, model: str, data_dir: Path, dataset: str) -> Path:
        out = self.out / "train" / name
        overrides = [
            f"model_name_or_path={model}", f"dataset_dir={data_dir}", f"dataset={dataset}",
            f"output_dir={out}", f"template={self.cfg.template}", f"max_steps={self.cfg.train_steps}",
            f"learning_rate={self.cfg.learning_rate}", "warmup_ratio=0", "lora_rank=16", "lora_alpha=32",
            "per_device_train_batch_size=4", "gradient_accumulation_steps=1", "logging_steps=5", "save_steps=100000",
            "preprocessing_num_workers=null", "dataloader_num_workers=0", "plot_loss=false", f"seed={self.cfg.seed}",
        ]
        from .configs import configs_dir, recipes  # the checkout's llamafactory_configs/ or the wheel's copy

        if self.cfg.device == "cpu":
            overrides += ["deepspeed=null", "bf16=false"]
        else:  # the recipe's DeepSpeed path is relative to our checkout; the steps run in the output folder
            ds = next(r.values.get("deepspeed", "") for r in recipes() if r.name == config)
            if ds and ds != "null":
                overrides.append(f"deepspeed={configs_dir() / os.path.basename(ds)}")
        self.step(f"train-{name}", [self.tool("llamafactory-cli"), "train", str(configs_dir() / config), *overrides])
        return out

    def export(self, name: str, model: str, adapter: Path) -> Path:
        """Merge the LoRA adapter: lmms-eval's qwen2_vl model loads full checkpoints."""
        merged = self.out / "models" / name
        self.step(f"export-{name}", [
            self.tool("llamafactory-cli"), "export", "--model_name_or_path", model, "--adapter_name_or_path",
            str(adapter), "--template", self.cfg.template, "--finetuning_type", "lora", "--export_dir", str(merged),
            "--export_size", "5", "--export_legacy_format", "false",
        ])
        return merged

    def evaluate(self, name: str, model: str, data_root: Path) -> Path:
        out = self.out / "eval" / name
        model_args = f"pretrained={model}"
        if self.cfg.device == "cpu":
            model_args += ",device=cpu,device_map=cpu,max_pixels=12544"
        args = [self.tool("lmms-eval"), "--model", "qwen2_vl", "--model_args", model_args, "--tasks", self.cfg.tasks,
                "--batch_size", "1", "--log_samples", "--output_path", str(out), "--seed", str(self.cfg.seed),
                "--gen_kwargs", f"max_new_tokens={self.cfg.max_new_tokens}"]
        if self.cfg.limit:
            args += ["--limit", str(self.cfg.limit)]
        self.step(f"eval-{name}", args, env={"VSFA_DATA_ROOT": str(data_root)})
        check_lmms_run(out, self.logs / f"eval-{name}.log")
        if self.cfg.judge:  # re-judge the logged answers without regenerating them
            for i, samples in enumerate(sorted(out.rglob("*_samples_*.jsonl"))):
                self.step(f"score-{name}-{i}", [self.tool("vsfa"), "score", str(samples), "--judge", self.cfg.judge])
        return out


def to_llava_conversations(vsfa_jsonl: Path, out: Path, id_prefix: str, max_turns: int | None = None) -> Path:
    """Rewrite ``vsfa`` rows (``turns``) as LLaVA ``conversations`` with absolute image paths."""
    rows = []
    for line in vsfa_jsonl.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        conversations = []
        for i, turn in enumerate(row["turns"][:max_turns]):
            conversations.append({"from": "human", "value": ("<image>\n" if i == 0 else "") + turn["question"]})
            conversations.append({"from": "gpt", "value": turn["answer"]})
        image = str((vsfa_jsonl.parent / row["images"][0]).resolve())
        rows.append({"id": id_prefix + row["id"], "image": image, "conversations": conversations})
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def check_lmms_run(out: Path, log_path: Path) -> None:
    """lmms-eval exits 0 even when a task errored: require a results file and no error in the log."""
    results = sorted(out.rglob("*_results.json"))
    log = log_path.read_text(encoding="utf-8", errors="replace")
    if not results:
        raise StepFailed(f"lmms-eval wrote no results under {out}; log: {log_path}\n" + "\n".join(log.splitlines()[-40:]))
    for marker in ("Traceback (most recent call last)", "Task errored", "[vsfa-plugins] ERROR"):
        if marker in log:
            raise StepFailed(f"lmms-eval reported an error ({marker!r}); log: {log_path}")


def print_table(out: Path, log=print) -> None:
    md = out / "report.md"
    if md.is_file():
        text = md.read_text(encoding="utf-8")
        log(text if len(text) < 6000 else text[:6000] + "\n…")


def add_commands(sub) -> None:
    p = sub.add_parser("demo", help="end-to-end demo: build data, evaluate, fine-tune two LoRA adapters, report")
    p.add_argument("--out-dir", "--out", dest="out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--model", default=None, help="HF id or local path of a Qwen2-VL model (default: tiny random)")
    p.add_argument("--template", default="qwen2_vl")
    p.add_argument("--data-root", default=None, help="benchmark releases (VSFA_DATA_ROOT); default: rendered demo set")
    p.add_argument("--tasks", default=DEMO_TASKS, help=f"lmms-eval tasks (default {DEMO_TASKS})")
    p.add_argument("--judge", default=None, help="judge id for every task (default: each task's keyword judge)")
    p.add_argument("--limit", type=int, default=None, help="at most N samples per task")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--train-steps", type=int, default=60)
    p.add_argument("--rejection-share", type=float, default=2 / 3,
                   help="share of rejection rows in the demo's rejection-mix set (the paper: ~0.1 of a large set)")
    p.add_argument("--learning-rate", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    cfg = DemoConfig(
        out=Path(args.out), model=args.model, template=args.template,
        data_root=Path(args.data_root) if args.data_root else None, tasks=args.tasks, judge=args.judge,
        limit=args.limit, max_new_tokens=args.max_new_tokens, train_steps=args.train_steps,
        learning_rate=args.learning_rate, seed=args.seed, device=args.device, rejection_share=args.rejection_share,
    )
    if cfg.model is None:
        print(DISCLAIMER)
    start = time.perf_counter()
    try:
        summary = Demo(cfg).run()
    except StepFailed as err:
        print(f"[demo] FAILED: {err}", file=sys.stderr)
        return 1
    print_table(Path(summary["out"]))
    print(f"[demo] done in {time.perf_counter() - start:.0f} s: {summary['report_html']}")
    if cfg.model is None:
        print(DISCLAIMER)
    return 0
