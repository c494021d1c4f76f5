"""``vsfa build-vlguard``: VLGuard's released training set as a LLaMA-Factory dataset — the curated-data
baseline (Zong et al., "Safety Fine-Tuning at (Almost) No Cost", ICML 2024; github.com/ys-zong/VLGuard).

Input: the released ``train.json`` (a JSON array, one row per image) + the ``train`` image folder::

    {"id": "Ads_423222", "image": "bad_ads/c7ea….png", "safe": true,
     "instr-resp": [{"safe_instruction": "…", "response": "…"}, {"unsafe_instruction": "…", "response": "…"}]}
    {"id": "Ads_364812", "image": "bad_ads/b02f….png", "safe": false, "harmful_category": "risky behavior",
     "harmful_subcategory": "political", "instr-resp": [{"instruction": "…", "response": "…"}]}

A safe image carries one safe and one unsafe instruction (each with its response); an unsafe image one
``instruction``. The release (2,000 rows: 977 safe, 1,023 unsafe images) repeats one id, ``Ads_303871``
(rows 59 and 152: two annotations of the same image): by default that stops the build with both
locations; ``duplicate_ids="allow"`` keeps both as published (the later one becomes ``Ads_303871#2``),
``skip_bad`` drops the later one.

Output: our ``rejection_mix`` format with every row ``kind: "instruct"`` — the published responses are
trained as they are (refusals included, EOS trained, nothing rewritten), and the rows mix with any other
``rejection_mix`` / instruct data through the same configs. Layouts:

* ``llava`` (default) — as the repository's ``convert_to_llava_format.py``: one row per image; for a
  safe image both pairs become a two-turn conversation in an order shuffled by ``random.seed(0)``
  (one ``random.shuffle`` per safe image, in file order — ``seed`` 0 reproduces the published order);
  ``<image>`` is put before the first question. The script writes ``<image>{question}``; LLaVA's
  ``preprocess_multimodal`` turns that into ``<image>\\n{question}`` before training, which is what we
  write (LLaMA-Factory does not normalise tags).
* ``pairs`` — one single-turn row per instruction–response pair (``<id>-safe_instruction`` …).

Rows keep VLGuard's labels: ``safe``, ``harmful_category``, ``harmful_subcategory`` and
``vlguard_instructions`` (the instruction keys in turn order). With ``instruct`` (e.g.
``llava_v1_5_mix665k.json``) and ``num_instruct`` (an integer or ``"all"``) the VLGuard rows are mixed
with instruct rows drawn with the same seed and the whole is shuffled — VLGuard's "mixed" fine-tuning
uses all of LLaVA's data, its "post-hoc" fine-tuning a sample.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..records import IMAGE_TAG, RecordError, parse_record
from ..io import dumps_row, progress, sha256_file
from ..records.errors import BadRow, where
from ..records.images import ImageChecker
from ..records.scan import scan_rows
from ..io import plain_stem
from .outputs import BuildStats, Outputs, Rejects, check_outputs, dataset_info_entry
from .rejection_mix import ALWAYS, BuildResult, _Ids, _roots, index_sources

LAYOUTS = ("llava", "pairs")
SUBSETS = ("all", "safe", "unsafe")
INSTRUCTION_KEYS = ("instruction", "safe_instruction", "unsafe_instruction")


@dataclass
class VLGuardRow:
    loc: Any
    id: Any
    image: str
    safe: bool
    category: str | None
    subcategory: str | None
    pairs: list  # [(instruction key, instruction, response)] in published order


def _bad(loc, row_id, what: str, reason: str = "vlguard_schema") -> BadRow:
    return BadRow(f"{where(loc, row_id)}: {what}", reason, loc, row_id)


def parse_vlguard_row(obj: Any, loc) -> VLGuardRow:
    """Check one row of VLGuard's train.json against the published schema; raise :class:`BadRow`."""
    if not isinstance(obj, dict):
        raise _bad(loc, None, f"a row must be a JSON object, got {type(obj).__name__}", "not_an_object")
    rid = obj.get("id")
    if rid is None or isinstance(rid, bool) or not isinstance(rid, (str, int)) or (isinstance(rid, str) and not rid.strip()):
        raise _bad(loc, None, "no usable 'id' (a non-empty string)", "missing_id")
    image = obj.get("image")
    if not isinstance(image, str) or not image.strip():
        raise _bad(loc, rid, "'image' must be a non-empty path", "bad_image_field")
    safe = obj.get("safe")
    if not isinstance(safe, bool):
        raise _bad(loc, rid, f"'safe' must be true or false, got {safe!r}", "bad_field")
    for key in ("harmful_category", "harmful_subcategory"):
        if obj.get(key) is not None and not isinstance(obj.get(key), str):
            raise _bad(loc, rid, f"'{key}' must be a string", "bad_field")
    items = obj.get("instr-resp")
    if not isinstance(items, list) or not items:
        raise _bad(loc, rid, "'instr-resp' must be a non-empty list of {instruction, response} objects",
                   "empty_conversation")
    pairs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(loc, rid, f"instr-resp item {i} must be an object")
        keys = [k for k in INSTRUCTION_KEYS if k in item]
        if len(keys) != 1:
            raise _bad(loc, rid, f"instr-resp item {i} must have exactly one of {', '.join(INSTRUCTION_KEYS)}, "
                                 f"has {sorted(item)}")
        instruction, response = item[keys[0]], item.get("response")
        for what, value in ((keys[0], instruction), ("response", response)):
            if not isinstance(value, str):
                raise _bad(loc, rid, f"instr-resp item {i}: '{what}' must be a string", "bad_field")
            if not value.strip():
                raise _bad(loc, rid, f"instr-resp item {i}: '{what}' is empty", "empty_conversation")
        pairs.append((keys[0], instruction, response))
    found = sorted(k for k, _, _ in pairs)
    expected = ["safe_instruction", "unsafe_instruction"] if safe else ["instruction"]
    if found != expected:
        raise _bad(loc, rid, f"a {'safe' if safe else 'unsafe'} image must carry {' + '.join(expected)}, "
                             f"found {' + '.join(found)}")
    return VLGuardRow(loc, rid, image, safe, obj.get("harmful_category"), obj.get("harmful_subcategory"), pairs)


def build_vlguard(
    train_json: str,
    out_dir: str,
    *,
    image_dir: str | None = None,
    layout: str = "llava",
    subset: str = "all",
    instruct: str | None = None,
    num_instruct: int | str | None = None,
    instruct_image_root: str | None = None,
    duplicate_ids: str = "error",
    name: str = "vlguard",
    output_format: str = "jsonl",
    seed: int = 0,
    skip_bad: bool = False,
    image_paths: str = "absolute",
    check_images: str = "header",
    allow_path_escape: bool = False,
    merge_into: str | None = None,
    replace_entry: bool = False,
) -> BuildResult:
    """Convert VLGuard's ``train.json`` into ``out_dir/<name>.jsonl`` (format ``rejection_mix``, all rows
    ``kind: instruct``) + ``dataset_info.json`` + ``stats.json`` + ``rejected.jsonl``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}")
    if duplicate_ids not in ("error", "allow"):
        raise ValueError("duplicate_ids must be 'error' or 'allow'")
    if output_format not in ("jsonl", "json"):
        raise ValueError("output_format must be 'jsonl' or 'json'")
    if (instruct is None) != (num_instruct is None):
        raise ValueError("--instruct and --num-instruct go together")
    if num_instruct is not None and num_instruct != "all" and (not isinstance(num_instruct, int) or num_instruct < 0):
        raise ValueError("num_instruct must be a non-negative integer or 'all'")
    out_dir = os.path.abspath(out_dir)
    file_name = f"{plain_stem(name)}.{output_format}"
    inputs = [train_json, instruct]
    info = dataset_info_entry(name, file_name, "rejection_mix")
    check_outputs(out_dir, [file_name, "stats.json", "rejected.jsonl"], inputs, info, merge_into, replace_entry)
    stats = BuildStats(command="build-vlguard", seed=seed, params={
        "name": name, "file_name": file_name, "formatting": "rejection_mix", "layout": layout, "subset": subset,
        "num_instruct": num_instruct, "image_paths": image_paths, "check_images": check_images,
        "skip_bad": skip_bad, "duplicate_ids": duplicate_ids,
    })
    rejects = Rejects(skip_bad, stats)
    checker = ImageChecker(_roots(image_dir, train_json), check_images, image_paths, out_dir, allow_path_escape)

    # VLGuard rows (small file: read whole, with file:line for every problem)
    rows: list[VLGuardRow] = []
    first_seen: dict[Any, str] = {}
    n_rows = 0
    scanned_rows = list(scan_rows(train_json))
    stats.add_source(train_json, "vlguard", rows=len(scanned_rows), sha256=sha256_file(train_json))
    for scanned in progress(scanned_rows, desc="vlguard"):
        n_rows += 1
        loc = scanned.loc
        if scanned.error is not None:
            rejects.handle(scanned.error, loc, role="vlguard")
            continue
        row_id = scanned.obj.get("id") if isinstance(scanned.obj, dict) else None
        try:
            row = parse_vlguard_row(scanned.obj, loc)
            if row.id in first_seen and duplicate_ids == "error":
                raise BadRow(f"{where(loc, row.id)}: duplicate id {row.id!r} (first at {first_seen[row.id]}); "
                             f"--duplicate-ids allow keeps both as published, --skip-bad drops this one",
                             "duplicate_id", loc, row.id)
            first_seen.setdefault(row.id, where(loc))
            row.image = checker.output_paths([row.image], loc, row.id)[0]
        except BadRow as err:
            rejects.handle(err, loc, row_id, role="vlguard")
            continue
        rows.append(row)

    # the published conversion: one seeded shuffle per multi-pair row, in file order
    rng = random.Random(seed)
    built: list[tuple[VLGuardRow, str, list]] = []  # (source row, id suffix, [(key, question, answer)])
    for row in rows:
        pairs = list(row.pairs)
        if layout == "llava":
            if len(pairs) > 1:
                rng.shuffle(pairs)
            built.append((row, "", pairs))
        else:
            built.extend((row, f"-{key}", [(key, q, a)]) for key, q, a in pairs)
    wanted = {"all": (True, False), "safe": (True,), "unsafe": (False,)}[subset]
    n_subset_out = sum(1 for row in rows if row.safe not in wanted)
    built = [b for b in built if b[0].safe in wanted]
    stats.unselected("vlguard", n_subset_out)

    # instruct rows
    ipool = None
    chosen: list[int] = []
    if instruct is not None:
        pools = index_sources([("instruct", instruct, ALWAYS)], rejects, stats)
        ipool = pools["instruct"]
        k = len(ipool) if num_instruct == "all" else num_instruct
        if k > len(ipool):
            raise RecordError(f"{ipool.path}: asked for {k} instruct rows but the file has {len(ipool)} usable rows")
        chosen = sorted(rng.sample(range(len(ipool)), k)) if num_instruct != "all" else list(range(len(ipool)))
        stats.unselected("instruct", len(ipool) - len(chosen))

    order = [("vlguard", i) for i in range(len(built))] + [("instruct", i) for i in range(len(chosen))]
    if chosen:
        rng.shuffle(order)

    ids = _Ids()
    counts: Counter = Counter()
    kept_sources: set = set()
    try:
        instruct_checker = None
        if ipool is not None:
            instruct_checker = ImageChecker(_roots(instruct_image_root, instruct), check_images, image_paths, out_dir,
                                            allow_path_escape)
        with Outputs(out_dir, inputs) as out:
            data = out.dataset(file_name)
            for kind, i in progress(order, total=len(order), desc="write"):
                if kind == "vlguard":
                    row, suffix, pairs = built[i]
                    conv = []
                    for t, (_, question, answer) in enumerate(pairs):
                        conv.append({"from": "human", "value": (IMAGE_TAG + "\n" + question) if t == 0 else question})
                        conv.append({"from": "gpt", "value": answer})
                    out_row: dict[str, Any] = {"id": ids(f"{row.id}{suffix}", "vlguard", row.loc.row),
                                               "kind": "instruct", "images": [row.image], "conversations": conv,
                                               "safe": row.safe}
                    if row.category is not None:
                        out_row["harmful_category"] = row.category
                    if row.subcategory is not None:
                        out_row["harmful_subcategory"] = row.subcategory
                    out_row["vlguard_instructions"] = [key for key, _, _ in pairs]
                    parse_record(out_row, "rejection_mix", where(row.loc, row.id))
                    data.write_text(dumps_row(out_row))
                    if row.loc.row not in kept_sources:
                        kept_sources.add(row.loc.row)
                        stats.keep("vlguard")
                    counts["vlguard_rows_out"] += 1
                    counts["safe_image_rows_out" if row.safe else "unsafe_image_rows_out"] += 1
                    continue
                j = chosen[i]
                loc = ipool.loc(j)
                try:
                    src = ipool.read(j)
                    images = instruct_checker.output_paths(src.images, loc, src.id) if src.images else []
                    out_row = {"id": ids(src.id, "instruct", loc.row), "kind": "instruct"}
                    if images:
                        out_row["images"] = images
                    if src.system:
                        out_row["system"] = src.system
                    out_row["conversations"] = src.conversations()
                    try:
                        parse_record(out_row, "rejection_mix", where(loc, src.id))
                    except RecordError as err:
                        raise BadRow(str(err), err.reason, loc, src.id) from None
                except BadRow as err:
                    rejects.handle(err, loc, ipool.id(j), role="instruct")
                    continue
                data.write_text(dumps_row(out_row))
                stats.keep("instruct")
                counts["instruct_rows_out"] += 1
            sha = data.close()
            counts["renamed_duplicate_ids"] = ids.renamed
            counts["by_kind"] = {"instruct": data.rows}
            stats.counts = {k: counts[k] for k in sorted(counts)}
            stats.outputs = {file_name: {"rows": data.rows, "sha256": sha}}
            rejects.write(out.file("rejected.jsonl"))
            stats.outputs["rejected.jsonl"] = {"rows": len(rejects)}
            stats.check()
            out.dataset_info(info, merge_into, replace_entry)
            out.text("stats.json", stats.dumps())
    finally:
        if ipool is not None:
            ipool.index.close()
    dataset_path = os.path.join(out_dir, file_name)
    return BuildResult(dataset_path, os.path.join(out_dir, "dataset_info.json"), os.path.join(out_dir, "stats.json"),
                       os.path.join(out_dir, "rejected.jsonl"), stats.to_dict())


__all__ = ["build_vlguard", "parse_vlguard_row", "LAYOUTS", "SUBSETS"]
