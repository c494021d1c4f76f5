"""``vsfa build-vsfa``: argument parsing only (the work is in :mod:`.pipeline`). Cheap to import.

Examples::

    vsfa build-vsfa --teacher procedural --num-images 24 --seed 0 --out runs/vsfa_demo
    VSFA_TEACHER_BASE_URL=http://gpu:8000/v1 VSFA_TEACHER_MODEL=Qwen/Qwen2.5-VL-72B-Instruct \\
    VSFA_T2I_BASE_URL=http://gpu:8001/v1 VSFA_T2I_MODEL=sdxl \\
        vsfa build-vsfa --corpus abstracts.txt --num-images 5000 --out runs/vsfa
    vsfa build-vsfa scenes --corpus abstracts.txt --out runs/vsfa      # one stage
    vsfa build-vsfa --stages images,vqa --out runs/vsfa                # some stages (settings are remembered)
    vsfa build-vsfa --images-dir my_pics --captions captions.csv --out runs/vsfa_mine

Exit codes: 0 done, 1 bad input or configuration (the message names file:line where there is one).
"""

from __future__ import annotations

import argparse
import sys

STAGE_NAMES = ("scenes", "images", "vqa", "filter", "modality")


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "build-vsfa",
        help="build a VSFA dataset: threat scenes -> images -> neutral teacher VQA -> filters -> modality variants",
        description="Build a label-free VSFA dataset (vsfa format) with dataset_info.json, stats.json and "
                    "rejected.jsonl. Stages: scenes, images, vqa, filter, modality — each resumable; settings of "
                    "the first run are stored in <out>/build_config.json. Endpoints come from the environment: "
                    "VSFA_TEACHER_BASE_URL / VSFA_TEACHER_MODEL / VSFA_TEACHER_API_KEY (teacher VLM), VSFA_SCENES_* "
                    "(scene writer; defaults to the teacher's), VSFA_T2I_BASE_URL / VSFA_T2I_MODEL / VSFA_T2I_API_KEY "
                    "(text-to-image). --teacher procedural builds an offline demo dataset (not for papers).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stage", nargs="*", metavar="STAGE", help=f"stages to run ({', '.join(STAGE_NAMES)}; default all)")
    p.add_argument("--stages", default=None, help="comma-separated stages (same as positional STAGE names)")
    p.add_argument("--out", "--out-dir", dest="out", required=True, help="output folder (also the resume state)")

    g = p.add_argument_group("sources (stage scenes)")
    g.add_argument("--source", choices=["procedural", "corpus", "images"], default=None,
                   help="default: procedural with --teacher procedural, corpus with --corpus, images with --images-dir")
    g.add_argument("--corpus", default=None, help="text file, one document per line (e.g. AI-safety abstracts)")
    g.add_argument("--scenes-per-text", type=int, default=None, help="scenes the LLM writes per corpus line (default 3)")
    g.add_argument("--scene-model", default=None,
                   help="scene writer model (default $VSFA_SCENES_MODEL, then $VSFA_TEACHER_MODEL)")
    g.add_argument("--scene-base-url", default=None, help="scene writer endpoint (default $VSFA_SCENES_BASE_URL / teacher's)")
    g.add_argument("--images-dir", default=None, help="your own pictures (searched recursively)")
    g.add_argument("--captions", default=None,
                   help="captions for --images-dir: CSV (header: image,caption[,threat_category]) or JSONL")
    g.add_argument("--categories", default=None,
                   help="comma-separated threat categories (default fire,weapon,drugs,accident,traffic,chemical)")
    g.add_argument("--num-images", type=int, default=None, help="number of pictures (procedural default 24)")
    g.add_argument("--seed", type=int, default=None, help="seed (default 0): scenes, per-item seeds, mixed shares")

    g = p.add_argument_group("pictures (stage images)")
    g.add_argument("--t2i", choices=["endpoint", "diffusers", "procedural"], default=None,
                   help="text-to-image: OpenAI-compatible /images/generations (endpoint), a local diffusers "
                        "pipeline, or procedural drawings")
    g.add_argument("--t2i-model", default=None, help="images endpoint model (default $VSFA_T2I_MODEL)")
    g.add_argument("--t2i-base-url", default=None, help="images endpoint (default $VSFA_T2I_BASE_URL)")
    g.add_argument("--diffusers-model", default=None, help="local diffusers pipeline folder (--t2i diffusers)")
    g.add_argument("--t2i-steps", type=int, default=None, help="diffusers inference steps (default 30)")
    g.add_argument("--image-size", type=int, default=None, help="square size in pixels (default 512; procedural 256)")

    g = p.add_argument_group("teacher (stage vqa)")
    g.add_argument("--teacher", choices=["endpoint", "local", "procedural"], default=None,
                   help="endpoint: an OpenAI-compatible VLM server; local: a transformers VLM folder; "
                        "procedural: answers from drawn scenes (demo/tests)")
    g.add_argument("--teacher-model", default=None, help="endpoint model name (default $VSFA_TEACHER_MODEL) or local folder")
    g.add_argument("--teacher-base-url", default=None, help="teacher endpoint (default $VSFA_TEACHER_BASE_URL)")
    g.add_argument("--questions-per-image", type=int, default=None, help="QA pairs per picture (default 4)")
    g.add_argument("--teacher-max-tokens", type=int, default=None,
                   help="reply length limit per teacher request (default 1024 endpoint, 512 local)")
    g.add_argument("--concurrency", type=int, default=8, help="parallel endpoint requests (default 8)")
    g.add_argument("--cache-dir", default=None, help="endpoint reply cache (default <out>/cache)")
    g.add_argument("--retry-failed", action="store_true", help="run items that failed before (HTTP errors, bad replies) again")

    g = p.add_argument_group("filters (stage filter)")
    g.add_argument("--lexicon", default=None, help="safety-vocabulary file (default: the shipped list; format inside)")
    g.add_argument("--extra-safety-words", default="", help="comma-separated entries added to the lexicon")
    g.add_argument("--language", choices=["en", "any"], default="en", help="language check (default en)")
    g.add_argument("--max-answer-chars", type=int, default=600)
    g.add_argument("--min-question-words", type=int, default=3)

    g = p.add_argument_group("output (stage modality)")
    g.add_argument("--modalities", default="image,text,mixed", help="variants to write (default image,text,mixed)")
    g.add_argument("--mixed-shares", default="image=0.5,text=0.5",
                   help="row shares of the mixed variant: image, text, both (picture + caption); default image=0.5,text=0.5")
    g.add_argument("--name", default="vsfa", help="dataset name prefix: <name>_image etc. (default vsfa)")
    g.add_argument("--output-format", choices=["jsonl", "json"], default="jsonl")
    g.add_argument("--merge-into", metavar="DATASET_INFO_JSON", help="also merge the entries into this dataset_info.json (its entries are kept)")
    g.add_argument("--replace-entry", action="store_true", help="replace existing dataset_info.json entries of the same name (refused otherwise)")
    p.set_defaults(func=_cmd_build)


def _stages(args) -> tuple[str, ...]:
    names = list(args.stage)
    if args.stages:
        names += [s.strip() for s in args.stages.split(",") if s.strip()]
    if not names or names == ["all"]:
        return STAGE_NAMES
    bad = [s for s in names if s not in STAGE_NAMES]
    if bad:
        raise SystemExit(f"error: unknown stage {bad[0]!r}; stages are {', '.join(STAGE_NAMES)}")
    return tuple(s for s in STAGE_NAMES if s in names)


def _cmd_build(args) -> int:
    from ...io import OutputError, error_text
    from ...records import RecordError
    from .filters import FilterConfig
    from .pipeline import Settings, build_vsfa

    locked = {
        "source": args.source, "seed": args.seed, "num_images": args.num_images, "corpus": args.corpus,
        "scenes_per_text": args.scenes_per_text, "scene_model": args.scene_model, "images_dir": args.images_dir,
        "captions": args.captions, "t2i": args.t2i, "t2i_model": args.t2i_model, "diffusers_model": args.diffusers_model,
        "t2i_steps": args.t2i_steps, "image_size": args.image_size, "teacher": args.teacher,
        "teacher_model": args.teacher_model, "questions_per_image": args.questions_per_image,
        "teacher_max_tokens": args.teacher_max_tokens,
        "categories": [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else None,
    }
    settings = Settings(
        out=args.out, stages=_stages(args), locked=locked, concurrency=max(1, args.concurrency),
        cache_dir=args.cache_dir, retry_failed=args.retry_failed, scene_base_url=args.scene_base_url,
        teacher_base_url=args.teacher_base_url, t2i_base_url=args.t2i_base_url, lexicon=args.lexicon,
        extra_safety_words=tuple(w for w in args.extra_safety_words.split(",") if w.strip()),
        filter_config=FilterConfig(language=args.language, max_answer_chars=args.max_answer_chars,
                                   min_question_words=args.min_question_words),
        modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
        mixed_shares=args.mixed_shares, name=args.name, output_format=args.output_format,
        merge_into=args.merge_into, replace_entry=args.replace_entry,
    )
    try:
        summary = build_vsfa(settings)
    except (RecordError, OutputError, OSError) as err:
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 1
    parts = [f"{k} {summary[k]}" for k in ("scenes", "images", "vqa") if k in summary]
    if "stats" in summary:
        st = summary["stats"]
        parts.append(f"kept {st['kept']} of {st['rows_in']} pictures, rejected {st['rejected']['total']}")
        c = st["counts"]
        parts.append(f"turns kept {c['turns_kept']}/{c['turns_in']}")
        if summary.get("rows"):
            parts.append("rows " + ", ".join(f"{k}={v}" for k, v in summary["rows"].items()))
        for note in st["notes"]:
            print(f"note: {note}", file=sys.stderr)
    print(f"{args.out}: " + "; ".join(parts))
    return 0


__all__ = ["add_commands"]
