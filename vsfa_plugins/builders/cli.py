"""``vsfa build-rejection-mix``, ``vsfa build-vlguard`` and ``vsfa contamination``.

Thin: parse arguments, call one builder function, print its summary. Cheap to import (builders are
imported inside the command functions) so ``vsfa --help`` stays fast. Exit codes: 0 done, 1 bad input
(the message names ``file:line``), 2 usage error, 3 ``--fail-on-overlap`` found an overlap.
"""

from __future__ import annotations

import argparse
import sys


def _common_output_args(p: argparse.ArgumentParser, default_name: str) -> None:
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True,
                   help="output folder: the dataset, stats.json, rejected.jsonl, and dataset_info.json (an existing "
                        "one is merged into, never overwritten)")
    p.add_argument("--name", default=default_name,
                   help=f"dataset name and file stem, a plain name without '/' (default: {default_name})")
    p.add_argument("--output-format", choices=["jsonl", "json"], default="jsonl",
                   help="JSONL (default) or a JSON array")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0, the papers' seed)")
    p.add_argument("--skip-bad", action="store_true",
                   help="reject bad rows into rejected.jsonl (with file:line and reason) instead of stopping")
    p.add_argument("--image-paths", choices=["absolute", "relative", "source"], default="absolute",
                   help="how image paths are written: absolute (default), relative to --out-dir, or as in the "
                        "source (then train with media_dir set to the image root)")
    p.add_argument("--check-images", choices=["none", "exists", "header", "decode"], default="header",
                   help="image check for every output row: header (default: the file opens as an image), "
                        "exists, decode (every pixel), none")
    p.add_argument("--allow-path-escape", action="store_true", help="allow relative image paths with '..'")
    p.add_argument("--merge-into", metavar="DATASET_INFO_JSON",
                   help="also merge the entry into this LLaMA-Factory dataset_info.json (its entries are kept; "
                        "created if missing)")
    p.add_argument("--replace-entry", action="store_true",
                   help="replace an existing dataset_info.json entry of the same name (refused otherwise)")


def add_commands(sub) -> None:
    p = sub.add_parser(
        "build-rejection-mix",
        help="benign rows answered by a fixed refusal mixed into instruct data (Wang et al., CVPR 2025)",
        description="Build a rejection_mix dataset: N benign rows (one stand-alone turn each, reply replaced by "
                    "the refusal) + M instruct rows, shuffled with the seed. --compat reference selects exactly "
                    "the rows of the paper's released mix_rejection_data.py.",
    )
    p.add_argument("--benign", required=True, help="benign source (LLaVA conversations / sharegpt / alpaca; .json or .jsonl)")
    p.add_argument("--instruct", required=True, help="instruct source, e.g. llava_v1_5_mix665k.json")
    p.add_argument("--num-rejection", type=int, help="N rejection rows")
    p.add_argument("--num-instruct", type=int, help="M instruct rows")
    p.add_argument("--rejection-ratio", type=float, help="N = round(ratio x total) (with --total)")
    p.add_argument("--total", type=int, help="N + M (with --rejection-ratio)")
    p.add_argument("--compat", choices=["none", "reference"], default="none",
                   help="reference: the paper's script's exact selection (seed, sampling order, id exclusion, "
                        "turn draw, <image> placement, shuffle)")
    p.add_argument("--refusal", default=None, help="the refusal reply (default: the paper's sentence)")
    p.add_argument("--image-root", help="folder relative image paths of both sources resolve against "
                                        "(default: each source file's folder)")
    p.add_argument("--benign-image-root", help="image root of the benign source only")
    p.add_argument("--instruct-image-root", help="image root of the instruct source only")
    p.add_argument("--duplicate-ids", choices=["allow", "error"], default="allow",
                   help="allow (default: LLaVA ids name the image and repeat; output ids get #2, #3…) or error")
    p.add_argument("--keep-eos", action="store_true",
                   help="register as rejection_mix_keep_eos (train the EOS after the refusal too)")
    _common_output_args(p, "rejection_mix")
    p.set_defaults(func=_rejection_mix)

    p = sub.add_parser(
        "build-vlguard",
        help="VLGuard's train.json (+ images) as a LLaMA-Factory dataset, optionally mixed with instruct data",
        description="Convert VLGuard's released train.json into a rejection_mix-format dataset (every row "
                    "kind=instruct: the published safe/unsafe instruction-response pairs, trained as they are).",
    )
    p.add_argument("--train-json", required=True, help="VLGuard train.json")
    p.add_argument("--image-dir", help="folder holding VLGuard's train images (default: train.json's folder)")
    p.add_argument("--layout", choices=["llava", "pairs"], default="llava",
                   help="llava (default): as VLGuard's convert_to_llava_format.py (safe images: both pairs as two "
                        "turns, seeded order); pairs: one single-turn row per instruction-response pair")
    p.add_argument("--subset", choices=["all", "safe", "unsafe"], default="all",
                   help="all rows (default), only safe images, or only unsafe images")
    p.add_argument("--instruct", help="instruct data to mix in (e.g. llava_v1_5_mix665k.json)")
    p.add_argument("--num-instruct", help="how many instruct rows (an integer or 'all')")
    p.add_argument("--instruct-image-root", help="image root of the instruct source (default: its folder)")
    p.add_argument("--duplicate-ids", choices=["error", "allow"], default="error",
                   help="error (default) or allow (keep both rows as published; the later gets id#2)")
    _common_output_args(p, "vlguard")
    p.set_defaults(func=_vlguard)

    p = sub.add_parser(
        "contamination",
        help="perceptual-hash near-duplicates between a training set's images and benchmark images",
        description="pHash every image of a training dataset and every image under $VSFA_DATA_ROOT/<benchmark>/, "
                    "report pairs within a Hamming distance (JSON + table).",
    )
    p.add_argument("dataset", help="training dataset file (vsfa / rejection_mix / LLaVA / sharegpt) or an image folder")
    p.add_argument("--data-root", help="benchmark root (default: $VSFA_DATA_ROOT, else ~/.cache/vsfa/data: where the benchmarks read)")
    p.add_argument("--benchmark", action="append", help="only this benchmark subfolder (repeatable)")
    p.add_argument("--image-root", action="append", help="folder the dataset's relative image paths resolve against "
                                                          "(default: the dataset's folder; repeatable)")
    p.add_argument("--threshold", type=int, default=4, help="max Hamming distance of a near-duplicate (default 4)")
    p.add_argument("--hash-size", type=int, default=8, help="pHash size (8 -> 64-bit hashes)")
    p.add_argument("--workers", type=int, default=1, help="processes hashing images (default 1)")
    p.add_argument("--report", help="write the JSON report here (default: print it to stdout)")
    p.add_argument("--fail-on-overlap", action="store_true", help="exit 3 when any pair is found")
    p.set_defaults(func=_contamination)


def _error(err: Exception) -> int:
    from ..io import error_text

    print(f"error: {error_text(err)}", file=sys.stderr)
    return 1


def _output_kwargs(args) -> dict:
    return dict(
        name=args.name, output_format=args.output_format, seed=args.seed, skip_bad=args.skip_bad,
        image_paths=args.image_paths, check_images=args.check_images, allow_path_escape=args.allow_path_escape,
        merge_into=args.merge_into, replace_entry=args.replace_entry,
    )


def _rejection_mix(args) -> int:
    from ..records import REFUSAL_SENTENCE, RecordError
    from .rejection_mix import build_rejection_mix

    try:
        result = build_rejection_mix(
            args.benign, args.instruct, args.out_dir,
            num_rejection=args.num_rejection, num_instruct=args.num_instruct,
            rejection_ratio=args.rejection_ratio, total=args.total, compat=args.compat,
            refusal=REFUSAL_SENTENCE if args.refusal is None else args.refusal,
            image_root=args.image_root, benign_image_root=args.benign_image_root,
            instruct_image_root=args.instruct_image_root, duplicate_ids=args.duplicate_ids,
            formatting="rejection_mix_keep_eos" if args.keep_eos else "rejection_mix",
            **_output_kwargs(args),
        )
    except (RecordError, ValueError, OSError) as err:
        return _error(err)
    print(result.summary())
    return 0


def _vlguard(args) -> int:
    from ..records import RecordError
    from .vlguard import build_vlguard

    num = args.num_instruct
    if num is not None and num != "all":
        try:
            num = int(num)
        except ValueError:
            return _error(ValueError("--num-instruct must be an integer or 'all'"))
    try:
        result = build_vlguard(
            args.train_json, args.out_dir, image_dir=args.image_dir, layout=args.layout, subset=args.subset,
            instruct=args.instruct, num_instruct=num, instruct_image_root=args.instruct_image_root,
            duplicate_ids=args.duplicate_ids, **_output_kwargs(args),
        )
    except (RecordError, ValueError, OSError) as err:
        return _error(err)
    print(result.summary())
    return 0


def _contamination(args) -> int:
    from ..records import RecordError
    from .contamination import check_contamination

    try:
        report = check_contamination(
            args.dataset, data_root=args.data_root, benchmarks=args.benchmark, image_roots=args.image_root,
            threshold=args.threshold, hash_size=args.hash_size, workers=args.workers, report_path=args.report,
        )
    except (RecordError, ValueError, OSError) as err:
        return _error(err)
    if args.report is None:
        print(report.to_json(), end="")
    print(report.table(), file=sys.stderr if args.report is None else sys.stdout)
    if args.fail_on_overlap and report.n_pairs:
        return 3
    return 0
