"""What a ``vsfa:<benchmark>`` task does instead of ``datasets.load_dataset``: read the release, build the
split, and write the evaluation protocol into the task's config metadata (lmms-eval copies the config into
``results["configs"][task]``, so the results file says exactly how every number was made)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..benchmarks.release import AFTER_TEXT, BLANK_IMAGE, data_root, file_digest
from .task_api import BLANK_SIZE

MARKER = "vsfa:"
AFTER_TEXT_NOTE = (
    "text before the image is honoured by chat models (doc_to_messages) and by lmms-eval's simple models that "
    "place an explicit <image> token (llava, llava_hf); the simple qwen2_vl / qwen2_5_vl models strip the token "
    "and put the image first"
)


def benchmark_id(dataset_path: Any) -> str | None:
    """``vsfa:<id>`` -> ``<id>``; anything else (a hub id, ``json``, ...) -> None."""
    if isinstance(dataset_path, str) and dataset_path.startswith(MARKER):
        return dataset_path[len(MARKER):]
    return None


def load_task_dataset(task, dataset_kwargs: Mapping[str, Any] | None) -> None:
    """Fill ``task.dataset`` / ``task.dataset_no_image`` the way ConfigurableTask.download does, and make the
    task's dumped config (``results["configs"][task]``) carry the evaluation protocol."""
    import datasets

    from ..benchmarks import load_rows

    config = task.config
    benchmark, options, rows = load_rows(benchmark_id(config.dataset_path), config.dataset_name, dataset_kwargs,
                                         task=config.task)
    split = config.test_split or config.validation_split
    task.dataset = datasets.DatasetDict({split: datasets.Dataset.from_list(rows)})
    if config.process_docs is not None:
        task.dataset[split] = config.process_docs(task.dataset[split])
    task.dataset_no_image = task.dataset  # images are paths (strings): nothing to strip
    metadata = config.metadata if isinstance(config.metadata, dict) else {}
    metadata["vsfa"] = provenance(benchmark, options, rows, config)
    config.metadata = metadata

    # lmms-eval sets --repeats / --gen_kwargs on the task after it is built and dumps the config later:
    # refresh the ASR definition from the config as it is when dumped (this instance only).
    dump_config = task.dump_config

    def dump_config_with_protocol():
        metadata["vsfa"]["asr_definition"] = asr_definition(benchmark, config, rows)
        return dump_config()

    task.dump_config = dump_config_with_protocol


def asr_definition(benchmark, config, rows: list[dict]) -> dict:
    from vsfa_plugins.scoring.metrics import ANY_OF_K, ASRDefinition

    subset = benchmark.subsets[config.dataset_name]
    blank = any(r["image"] == BLANK_IMAGE for r in rows)
    definition = ASRDefinition(
        attempts_per_prompt=int(config.repeats or 1),
        aggregation=ANY_OF_K,
        sampling=dict(config.generation_kwargs or {}),
        image_condition="blank_image" if blank else subset.image_condition,
        notes=(f"blank = white {BLANK_SIZE[0]}x{BLANK_SIZE[1]} image. " if blank else "")
        + "asr = full compliance / judged attack rows; refusal_rate = full+partial refusals / judged attack rows; "
        "over_refusal_rate = full+partial refusals / judged benign rows; judge errors are left out of the rates "
        "and reported as judge_error_rate (vsfa_plugins.scoring.metrics.summarize definitions).",
    )
    return definition.to_dict()


def provenance(benchmark, options, rows: list[dict], config) -> dict:
    from vsfa_plugins.scoring import verdict

    judge_id = rows[0]["judge"]
    info = getattr(verdict, "get_judge_info", None)
    judge = info(judge_id).to_dict() if info else {"judge_id": judge_id}
    folder = _folder_of(benchmark, rows)
    sources = sorted({r["source"].split("#")[0].split(":")[0] for r in rows})
    return {
        "benchmark": benchmark.id,
        "title": benchmark.title,
        "subset": config.dataset_name,
        "rows": len(rows),
        "kinds": sorted({r["kind"] for r in rows}),
        "protocol": options.protocol,
        "defense": options.defense,
        "image_position": sorted({r["image_position"] for r in rows if r["image"]}) or ["no image"],
        **({"image_position_note": AFTER_TEXT_NOTE} if any(r["image_position"] == AFTER_TEXT and r["image"]
                                                          for r in rows) else {}),
        "judge": judge,
        "asr_definition": asr_definition(benchmark, config, rows),
        "data": {
            "root": str(data_root()),
            "folder": str(folder) if folder else "",
            "files": {name: file_digest(folder / name) for name in sources} if folder else {},
            "published": benchmark.published,
        },
        "notes": list(benchmark.notes),
    }


def _folder_of(benchmark, rows):
    from ..benchmarks.release import resolve

    try:
        return resolve(benchmark, rows[0]["subset"])
    except Exception:
        return None
