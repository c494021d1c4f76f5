"""``vsfa build-vsfa``: the label-free VSFA data pipeline, stage by stage, resumable.

Stages (run all, one, or a list; each reads what the earlier ones left in the output folder)::

    scenes    -> scenes.jsonl      where pictures come from (corpus + LLM, your images, procedural)
    images    -> images/, images.jsonl     one PNG per item (t2i endpoint, diffusers, copy, procedural)
    vqa       -> vqa.jsonl         teacher captions + neutral QA (endpoint VLM, local VLM, procedural)
    filter    -> filtered.jsonl    safety-vocabulary + quality filters (+ rejected.jsonl, stats.json)
    modality  -> <name>_image.jsonl, <name>_text.jsonl, <name>_mixed.jsonl, dataset_info.json,
                 stats.json, rejected.jsonl

Stages 1–3 append one line per finished item to their JSONL file (:mod:`.store`): a re-run skips what is
finished, a ``kill -9`` loses at most the items in flight and never duplicates one. Stages 4–5 are cheap
and recomputed from scratch each time. Every final file is assembled in item order and written atomically
(:class:`~vsfa_plugins.builders.outputs.Outputs`), so the same inputs and seed give byte-identical outputs —
also after an interrupted and resumed run.

The settings that shape stages 1–3 (source, seed, models, counts, …) are stored in ``build_config.json`` on
the first run; later runs in the same folder reuse them and refuse a different value (use a new ``--out``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from ...records import RecordError
from ...io import AtomicFile, atomic_write_text, dumps_document, dumps_row, progress
from ...io import plain_stem
from ..outputs import BuildStats, Outputs, check_outputs
from . import modality as mod
from .filters import FilterConfig, Lexicon, TurnFilter
from .scenes import DEFAULT_CATEGORIES, Item
from .store import StageFile

STAGES = ("scenes", "images", "vqa", "filter", "modality")
SOURCES = ("procedural", "corpus", "images")
T2I = ("procedural", "endpoint", "diffusers")
TEACHERS = ("procedural", "endpoint", "local")
CONFIG_FILE = "build_config.json"

#: settings stored in build_config.json (they shape stages 1-3), with their defaults
LOCKED_DEFAULTS: dict[str, Any] = {
    "source": None,
    "seed": 0,
    "num_images": None,
    "categories": list(DEFAULT_CATEGORIES),
    "corpus": None,
    "scenes_per_text": 3,
    "scene_model": None,
    "images_dir": None,
    "captions": None,
    "t2i": None,
    "t2i_model": None,
    "diffusers_model": None,
    "t2i_steps": 30,
    "image_size": None,
    "teacher": None,
    "teacher_model": None,
    "questions_per_image": 4,
    "teacher_max_tokens": None,
    "caption_qa": True,
}


@dataclass
class Settings:
    out: str
    stages: tuple[str, ...] = STAGES
    locked: dict = field(default_factory=dict)  # explicit values for LOCKED_DEFAULTS keys (None = not given)
    # run-time options (do not change the data)
    concurrency: int = 8
    cache_dir: str | None = None
    retry_failed: bool = False
    scene_base_url: str | None = None
    teacher_base_url: str | None = None
    t2i_base_url: str | None = None
    # stages 4-5 (recomputed every run)
    lexicon: str | None = None
    extra_safety_words: tuple[str, ...] = ()
    filter_config: FilterConfig = field(default_factory=FilterConfig)
    modalities: tuple[str, ...] = mod.VARIANTS
    mixed_shares: str = "image=0.5,text=0.5"
    name: str = "vsfa"
    output_format: str = "jsonl"
    merge_into: str | None = None
    replace_entry: bool = False


# ------------------------------------------------------------------------------------------------------
# configuration (build_config.json)
# ------------------------------------------------------------------------------------------------------


def _sha256(path: str) -> str:
    from ...io import sha256_file

    return sha256_file(path)


def resolve_config(settings: Settings) -> dict:
    """Stored config ∪ explicit settings ∪ defaults; a conflict with the stored config is an error."""
    path = os.path.join(settings.out, CONFIG_FILE)
    stored: dict = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
        except (OSError, ValueError) as err:
            raise RecordError(f"{path}: cannot read the stored build settings ({err})") from None
    given = {k: v for k, v in settings.locked.items() if v is not None}
    for key in ("corpus", "images_dir", "captions", "diffusers_model"):
        if given.get(key):
            given[key] = os.path.abspath(given[key])
    if given.get("teacher") == "local" and given.get("teacher_model"):
        given["teacher_model"] = os.path.abspath(given["teacher_model"])
    if "categories" in given:
        given["categories"] = list(given["categories"])
    for key, value in given.items():
        if key in stored and stored[key] != value:
            raise RecordError(
                f"{path}: this folder was built with {key} = {stored[key]!r}; this run asks for {value!r}. "
                f"Use a new --out (or delete the folder) to build with other settings."
            )
    config = dict(LOCKED_DEFAULTS)
    config.update(stored)
    config.update(given)
    _fill_defaults(config)
    _check_config(config)
    return config


def _fill_defaults(c: dict) -> None:
    if c["source"] is None:
        if c["corpus"]:
            c["source"] = "corpus"
        elif c["images_dir"]:
            c["source"] = "images"
        elif c["teacher"] == "procedural":
            c["source"] = "procedural"
        else:
            raise RecordError("nothing to build from: give --corpus FILE, --images-dir DIR or --teacher procedural "
                              "(or --source procedural)")
    if c["teacher"] is None:
        c["teacher"] = "procedural" if c["source"] == "procedural" else "endpoint"
    if c["t2i"] is None and c["source"] != "images":
        c["t2i"] = "procedural" if c["source"] == "procedural" else "endpoint"
    if c["image_size"] is None:
        c["image_size"] = 256 if c["t2i"] == "procedural" else 512
    if c["num_images"] is None and c["source"] == "procedural":
        c["num_images"] = 24
    if c["teacher_max_tokens"] is None and c["teacher"] in ("endpoint", "local"):
        c["teacher_max_tokens"] = 1024 if c["teacher"] == "endpoint" else 512


def _check_config(c: dict) -> None:
    if c["source"] not in SOURCES:
        raise RecordError(f"unknown source {c['source']!r}; expected one of {', '.join(SOURCES)}")
    if c["source"] == "corpus" and not c["corpus"]:
        raise RecordError("--source corpus needs --corpus FILE (one text per line)")
    if c["source"] == "images" and not c["images_dir"]:
        raise RecordError("--source images needs --images-dir DIR")
    if c["teacher"] not in TEACHERS:
        raise RecordError(f"unknown teacher {c['teacher']!r}; expected one of {', '.join(TEACHERS)}")
    if c["teacher"] == "procedural" and c["source"] != "procedural":
        raise RecordError("--teacher procedural reads the drawn scene: it needs --source procedural")
    if c["t2i"] == "procedural" and c["source"] != "procedural":
        raise RecordError("--t2i procedural draws procedural scenes: it needs --source procedural")
    if c["t2i"] is not None and c["t2i"] not in T2I:
        raise RecordError(f"unknown --t2i {c['t2i']!r}; expected one of {', '.join(T2I)}")
    if c["source"] == "procedural" and c["t2i"] != "procedural":
        raise RecordError("--source procedural draws its own pictures (--t2i procedural)")
    if c["teacher"] == "local" and not c["teacher_model"]:
        raise RecordError("--teacher local needs --teacher-model PATH (a transformers VLM folder)")
    if c["t2i"] == "diffusers" and not c["diffusers_model"]:
        raise RecordError("--t2i diffusers needs --diffusers-model PATH (a diffusers pipeline folder)")
    if c["num_images"] is not None and c["num_images"] < 1:
        raise RecordError("--num-images must be at least 1")
    if c["questions_per_image"] < 1:
        raise RecordError("--questions-per-image must be at least 1")
    if c["source"] == "procedural":
        from .procedural import CATEGORIES

        bad = [x for x in c["categories"] if x not in CATEGORIES]
        if bad:
            raise RecordError(f"procedural categories are {', '.join(CATEGORIES)}; unknown: {', '.join(bad)}")


def _store_config(settings: Settings, config: dict) -> None:
    path = os.path.join(settings.out, CONFIG_FILE)
    text = dumps_document(config)
    if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
        atomic_write_text(path, text)


# ------------------------------------------------------------------------------------------------------
# runner helpers
# ------------------------------------------------------------------------------------------------------


def _run_items(items: list, work: Callable[[Any], dict], store: StageFile, concurrency: int, desc: str) -> None:
    """Run ``work(item) -> record`` for the items not yet in ``store``; append each result as it finishes."""
    todo = [it for it in items if it.id not in store]
    if not todo:
        return
    bar = progress(total=len(todo), desc=desc, unit="item")
    try:
        if concurrency <= 1:
            for it in todo:
                store.append(work(it))
                bar.update(1)
            return
        pool = ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="vsfa-build")
        try:
            futures = {pool.submit(work, it): it for it in todo}
            for future in as_completed(futures):
                store.append(future.result())
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    finally:
        bar.close()


class _Unit(NamedTuple):
    """A source unit of stage 1 (procedural scene index or corpus line)."""

    id: str
    n: int
    text: str = ""


def _stage_file(settings: Settings, name: str) -> str:
    return os.path.join(settings.out, name)


def _cache_dir(settings: Settings) -> str:
    return settings.cache_dir or os.path.join(settings.out, "cache")


# ------------------------------------------------------------------------------------------------------
# stage 1: scenes
# ------------------------------------------------------------------------------------------------------


def run_scenes(settings: Settings, config: dict) -> StageFile:
    from . import scenes as sc

    store = StageFile(_stage_file(settings, "scenes.jsonl")).load(settings.retry_failed)
    src = config["source"]
    try:
        if src == "procedural":
            from .procedural import caption, make_spec

            cats = tuple(config["categories"])

            def work(unit):
                spec = make_spec(unit.id, unit.n, config["seed"], cats)
                return {"id": unit.id, "order": [unit.n], "ok": True, "source": "procedural", "spec": spec.to_dict(),
                        "prompt": caption(spec)}

            units = [_Unit(f"p{i:06d}", i) for i in range(config["num_images"])]
            _run_items(units, work, store, 1, "scenes (procedural)")
        elif src == "images":
            folder = config["images_dir"]
            files = sc.list_images(folder)
            captions = sc.read_captions(config["captions"], folder) if config["captions"] else {}
            unknown = sorted(set(captions) - set(files))
            if unknown:
                raise RecordError(f"{captions[unknown[0]]['where']}: no such image in {folder}: {unknown[0]!r}")
            if config["num_images"]:
                files = files[: config["num_images"]]
            records = []
            for n, rel in enumerate(files):
                uid = sc.image_item_id(n)
                if uid in store:
                    if store.get(uid).get("path") != os.path.join(folder, rel):
                        raise RecordError(f"{store.path}: item {uid} was {store.get(uid).get('path')} but is now "
                                          f"{os.path.join(folder, rel)}: the images folder changed; use a new --out")
                    continue
                cap = captions.get(rel, {})
                records.append({"id": uid, "order": [n], "ok": True, "source": "images", "path": os.path.join(folder, rel),
                                "caption": cap.get("caption"), "threat_category": cap.get("threat_category")})
            for rec in progress(records, desc="scenes (images)", unit="img"):
                store.append(rec)
        else:
            _scenes_from_corpus(settings, config, store)
    finally:
        store.close()
    return store


def _scenes_from_corpus(settings: Settings, config: dict, store: StageFile) -> None:
    from ...endpoints import ChatClient, ChatRequest, DiskCache, EndpointConfig, EndpointError, user_message
    from . import scenes as sc

    lines = sc.read_corpus(config["corpus"])
    k = config["scenes_per_text"]
    if config["num_images"]:
        lines = lines[: -(-config["num_images"] // k)]
    cats = tuple(config["categories"])
    env = dict(os.environ)
    for name in ("BASE_URL", "MODEL", "API_KEY"):  # VSFA_SCENES_* falls back to VSFA_TEACHER_*
        if not env.get(f"VSFA_SCENES_{name}") and env.get(f"VSFA_TEACHER_{name}"):
            env[f"VSFA_SCENES_{name}"] = env[f"VSFA_TEACHER_{name}"]
    overrides = {k2: v for k2, v in (("model", config["scene_model"]), ("base_url", settings.scene_base_url)) if v}
    if config["scene_model"]:
        env.setdefault("VSFA_SCENES_MODEL", config["scene_model"])
    try:
        cfg = EndpointConfig.from_env("VSFA_SCENES", env=env, **overrides)
    except ValueError as err:
        raise RecordError(f"scene writer: {err} (or VSFA_TEACHER_MODEL)") from None
    if cfg.api_key_env and cfg.api_key_env.startswith("VSFA_SCENES") and not os.environ.get(cfg.api_key_env):
        # the key is read from the real environment when a request is sent: name the variable that holds it
        cfg = dataclasses.replace(cfg, api_key_env="VSFA_TEACHER_API_KEY")
    client = ChatClient(cfg, namespace=f"vsfa-scenes/{cfg.model}", cache=DiskCache(_cache_dir(settings)),
                        concurrency=settings.concurrency)

    def work(line):
        base = {"id": line.id, "order": [line.n], "source": "corpus", "path": config["corpus"], "line": line.n}
        prompt = sc.SCENE_PROMPT.format(k=k, categories=", ".join(cats), text=line.text)
        try:
            reply = client.complete(ChatRequest([user_message(prompt)], {"max_tokens": 1024})).content
        except EndpointError as err:
            return {**base, "ok": False, "reason": "scene_error", "message": str(err)}
        try:
            scenes = sc.parse_scenes(reply, cats, k)
        except ValueError as err:
            return {**base, "ok": False, "reason": "scene_unparseable", "message": f"{err}: {' '.join(reply.split())[:200]}"}
        return {**base, "ok": True, "scenes": scenes}

    try:
        _run_items([_Unit(f"t{n:06d}", n, t) for n, t in lines], work, store, settings.concurrency, "scenes (corpus)")
    finally:
        client.close()


def load_items(settings: Settings, config: dict) -> tuple[list[Item], int, StageFile]:
    from .scenes import expand

    store = StageFile(_stage_file(settings, "scenes.jsonl")).load()
    if not len(store):
        raise RecordError(f"{store.path}: no scenes yet; run the 'scenes' stage first")
    items, cut = expand(list(store.values()), config["num_images"])
    return items, cut, store


# ------------------------------------------------------------------------------------------------------
# stage 2: images
# ------------------------------------------------------------------------------------------------------


def run_images(settings: Settings, config: dict) -> StageFile:
    from .images import DiffusersGenerator, ImageGenerationError, ImagesClient, ImagesConfig, item_seed, to_png

    items, _, _ = load_items(settings, config)
    store = StageFile(_stage_file(settings, "images.jsonl")).load(settings.retry_failed)
    image_dir = os.path.join(settings.out, "images")
    size = config["image_size"]
    closer = None
    concurrency = 1
    if config["source"] == "images":
        from .scenes import read_source_image

        def make(item):
            return to_png(read_source_image(item.source_image))
    elif config["t2i"] == "procedural":
        from .procedural import SceneSpec, render

        def make(item):
            return to_png(render(SceneSpec.from_dict(item.spec), size))
    elif config["t2i"] == "endpoint":
        try:
            images_cfg = ImagesConfig.from_env(model=config["t2i_model"], base_url=settings.t2i_base_url)
        except ValueError as err:
            raise RecordError(str(err)) from None
        client = ImagesClient(images_cfg, concurrency=settings.concurrency)
        closer = client.close
        concurrency = settings.concurrency

        def make(item):
            return to_png(client.generate(item.prompt, size))
    else:
        pending = [it for it in items if it.id not in store]
        generator = DiffusersGenerator(config["diffusers_model"], config["t2i_steps"]) if pending else None

        def make(item):
            return to_png(generator.generate(item.prompt, size, item_seed(config["seed"], item.id)))

    def work(item):
        rel = f"images/{item.id}.png"
        try:
            png, width, height = make(item)
        except (ImageGenerationError, OSError) as err:
            return {"id": item.id, "ok": False, "reason": "image_error", "message": f"{type(err).__name__}: {err}"}
        except RecordError as err:  # the user's picture, refused by the records layer's image check
            return {"id": item.id, "ok": False, "reason": err.reason, "message": str(err)}
        with AtomicFile(os.path.join(image_dir, f"{item.id}.png"), binary=True) as f:
            f.write(png)
        return {"id": item.id, "ok": True, "image": rel, "sha256": hashlib.sha256(png).hexdigest(),
                "width": width, "height": height}

    try:
        _run_items(items, work, store, concurrency, f"images ({config['t2i'] or 'copy'})")
    finally:
        store.close()
        if closer:
            closer()
    return store


# ------------------------------------------------------------------------------------------------------
# stage 3: teacher VQA
# ------------------------------------------------------------------------------------------------------


def make_teacher(settings: Settings, config: dict):
    from .teacher import EndpointTeacher, LocalTeacher, ProceduralTeacher

    n = config["questions_per_image"]
    if config["teacher"] == "procedural":
        return ProceduralTeacher(n, config["seed"])
    if config["teacher"] == "local":
        return LocalTeacher(n, config["teacher_model"], max_new_tokens=config["teacher_max_tokens"])
    try:
        return EndpointTeacher(n, _cache_dir(settings), model=config["teacher_model"], base_url=settings.teacher_base_url,
                               concurrency=settings.concurrency, max_tokens=config["teacher_max_tokens"])
    except ValueError as err:
        raise RecordError(f"teacher: {err}") from None


def run_vqa(settings: Settings, config: dict) -> StageFile:
    items, _, _ = load_items(settings, config)
    images = StageFile(_stage_file(settings, "images.jsonl")).load()
    if not len(images):
        raise RecordError(f"{images.path}: no images yet; run the 'images' stage first")
    store = StageFile(_stage_file(settings, "vqa.jsonl")).load(settings.retry_failed)
    ready = [it for it in items if (images.get(it.id) or {}).get("ok")]
    pending = [it for it in ready if it.id not in store]
    if not pending:
        return store
    teacher = make_teacher(settings, config)
    want_text = bool(config["caption_qa"])

    def work(item):
        image_path = os.path.join(settings.out, images.get(item.id)["image"])
        result = teacher.ask(item, image_path, item.caption, want_text)
        return {"id": item.id, "teacher": teacher.name, **result.to_record()}

    concurrency = settings.concurrency if config["teacher"] == "endpoint" else 1
    try:
        _run_items(ready, work, store, concurrency, f"vqa ({config['teacher']})")
    finally:
        store.close()
        if hasattr(teacher, "close"):
            teacher.close()
    return store


# ------------------------------------------------------------------------------------------------------
# stages 4-5: filter, modality, and the final files
# ------------------------------------------------------------------------------------------------------


@dataclass
class Assembled:
    kept: list[dict]  # filtered items, in order
    rejects: list[dict]  # rejected.jsonl rows, in order
    stats: BuildStats
    lexicon: Lexicon


def _sort_key(item_order: dict[str, list], record: dict) -> tuple:
    return (item_order.get(record["id"], [float("inf")]), STAGES.index(record["stage"]),
            record.get("field", ""), record.get("turn", -1))


def assemble(settings: Settings, config: dict) -> Assembled:
    """Filter every finished item and account for every input (stage 4, in memory)."""
    lexicon = Lexicon.from_file(settings.lexicon, settings.extra_safety_words)
    filt = TurnFilter(lexicon, settings.filter_config)
    scenes = StageFile(_stage_file(settings, "scenes.jsonl")).load()
    from .scenes import expand

    items, cut = expand(list(scenes.values()), config["num_images"])
    images = StageFile(_stage_file(settings, "images.jsonl")).load()
    vqa = StageFile(_stage_file(settings, "vqa.jsonl")).load()
    order = {it.id: it.order for it in items}
    rejects: list[dict] = []
    kept: list[dict] = []
    turn_reasons: Counter = Counter()
    item_reasons: Counter = Counter()
    counts = Counter()
    pending = 0

    for rec in scenes.values():  # source units that produced no item
        if not rec.get("ok", True):
            order[rec["id"]] = rec["order"]
            rejects.append({"stage": "scenes", "id": rec["id"], "reason": rec["reason"], "message": rec["message"],
                            **({"path": rec["path"], "line": rec["line"]} if rec.get("line") else {})})
            item_reasons[rec["reason"]] += 1

    for item in items:
        origin = {k: v for k, v in item.origin.items() if v is not None}
        img = images.get(item.id)
        qa = vqa.get(item.id)
        if img is None or (img.get("ok") and qa is None):
            pending += 1
            continue
        if not img.get("ok"):
            rejects.append({"stage": "images", "id": item.id, "reason": img["reason"], "message": img["message"], **origin})
            item_reasons[img["reason"]] += 1
            continue
        if not qa.get("ok"):
            rejects.append({"stage": "vqa", "id": item.id, "reason": qa["reason"], "message": qa["message"], **origin})
            item_reasons[qa["reason"]] += 1
            continue
        counts["turns_in"] += len(qa["turns"])
        turns, dropped = filt.filter_turns(qa["turns"])
        for i, verdict in dropped:
            t = qa["turns"][i]
            rejects.append({"stage": "filter", "id": item.id, "field": "turns", "turn": i, "reason": verdict.reason,
                            "message": verdict.message, "question": t.get("question"), "answer": t.get("answer")})
            turn_reasons[verdict.reason] += 1
        text_turns: list = []
        if qa.get("text_turns") is not None:
            counts["text_turns_in"] += len(qa["text_turns"])
            text_turns, dropped = filt.filter_turns(qa["text_turns"])
            for i, verdict in dropped:
                t = qa["text_turns"][i]
                rejects.append({"stage": "filter", "id": item.id, "field": "text_turns", "turn": i, "reason": verdict.reason,
                                "message": verdict.message, "question": t.get("question"), "answer": t.get("answer")})
                turn_reasons[verdict.reason] += 1
        caption = qa.get("caption")
        caption_ok = False
        if caption:
            verdict = filt.check_caption(caption)
            caption_ok = verdict.ok
            if not verdict.ok:
                rejects.append({"stage": "filter", "id": item.id, "field": "caption", "reason": verdict.reason,
                                "message": verdict.message, "caption": caption})
                counts["captions_rejected"] += 1
        if not turns and not (caption_ok and text_turns):
            rejects.append({"stage": "filter", "id": item.id, "field": "item", "reason": "no_turn_left",
                            "message": "every question/answer pair of this picture was filtered out", **origin})
            item_reasons["no_turn_left"] += 1
            continue
        counts["turns_kept"] += len(turns)
        counts["text_turns_kept"] += len(text_turns)
        kept.append({"id": item.id, "order": item.order, "image": img["image"], "category": item.category,
                     "caption": caption if caption else None, "caption_ok": caption_ok, "turns": turns,
                     "text_turns": text_turns if caption_ok else []})

    rejects.sort(key=lambda r: _sort_key(order, r))
    stats = BuildStats(command="build-vsfa", seed=config["seed"])
    stats.rows_in = len(items) + cut + sum(1 for r in scenes.values() if not r.get("ok", True)) - pending
    stats.kept = len(kept)
    stats.rejected = item_reasons
    stats.not_selected = cut
    stats.counts = {
        "items": len(items), "pending": pending, "turns_in": counts["turns_in"], "turns_kept": counts["turns_kept"],
        "text_turns_in": counts["text_turns_in"], "text_turns_kept": counts["text_turns_kept"],
        "captions_rejected": counts["captions_rejected"],
        "turns_rejected_by_reason": dict(sorted(turn_reasons.items())),
        "by_category": dict(sorted(Counter(k["category"] or "none" for k in kept).items())),
    }
    if pending:
        stats.notes.append(f"{pending} item(s) have not been through every stage yet (run the remaining stages)")
    if config["num_images"] and len(items) < config["num_images"] and config["source"] == "corpus":
        stats.notes.append(f"{len(items)} pictures planned of --num-images {config['num_images']}: some corpus lines "
                           f"gave fewer scenes or none (see rejected.jsonl); add corpus lines or --scenes-per-text")
    return Assembled(kept, rejects, stats, lexicon)


def _params(settings: Settings, config: dict, lexicon: Lexicon) -> dict:
    inputs = {}
    for key in ("corpus", "captions"):
        if config.get(key):
            inputs[key] = {"path": config[key], "sha256": _sha256(config[key])}
    if config.get("images_dir"):
        from .scenes import list_images

        listing = "\n".join(list_images(config["images_dir"]))
        inputs["images_dir"] = {"path": config["images_dir"], "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}
    return {
        "build": {k: v for k, v in config.items()},
        "inputs": inputs,
        "lexicon": {"path": os.path.abspath(lexicon.origin), "entries": len(lexicon), "sha256": lexicon.fingerprint},
        "filter": settings.filter_config.to_dict(),
        "modalities": list(settings.modalities),
        "mixed_shares": mod.parse_shares(settings.mixed_shares) if "mixed" in settings.modalities else None,
        "name": settings.name,
    }


def write_outputs(settings: Settings, config: dict, with_datasets: bool) -> dict:
    """Stage 4 (``filtered.jsonl``) and, with ``with_datasets``, stage 5; plus rejected.jsonl and stats.json.

    Accounting in stats.json is per picture: ``rows_in`` = pictures that went through the pipeline (plus source
    units that yielded none, e.g. a corpus line whose scenes could not be parsed, plus pictures beyond
    ``--num-images``); ``kept`` = pictures in at least one output dataset; ``rejected`` = pictures dropped, by
    the reason of their drop; ``not_selected`` = pictures beyond ``--num-images``. Dropped question/answer pairs
    and captions are counted in ``counts`` (``turns_rejected_by_reason``, ``captions_rejected``); every drop,
    of a picture, a pair or a caption, is a line of rejected.jsonl."""
    asm = assemble(settings, config)
    stats = asm.stats
    stats.params = _params(settings, config, asm.lexicon)
    written: dict[str, int] = {}
    ext = settings.output_format
    with Outputs(settings.out, _inputs(config)) as out:
        filtered = out.dataset("filtered.jsonl")
        for item in asm.kept:
            filtered.write(item)
        filtered.close()
        if with_datasets and not asm.kept:
            stats.notes.append("no picture survived the pipeline: no dataset written (see rejected.jsonl)")
        if with_datasets and asm.kept:
            eligible = [k["id"] for k in asm.kept if k["caption_ok"] and k["text_turns"]]
            image_ok = {k["id"] for k in asm.kept if k["turns"]}
            entries = {}
            assignment: dict[str, str] = {}
            if "mixed" in settings.modalities:
                shares = mod.parse_shares(settings.mixed_shares)
                both_ok = [i for i in eligible if i in image_ok]
                text_only = [i for i in eligible if i not in image_ok]  # no image QA left: text rows only
                eligible_set = set(eligible)
                image_only = [k["id"] for k in asm.kept if k["id"] not in eligible_set]
                assignment = mod.assign_mixed(both_ok, image_only, shares, config["seed"])
                for i in text_only:
                    assignment[i] = "text"
            for variant in settings.modalities:
                if variant == "image":
                    rows = [mod.build_row(k, "image") for k in asm.kept if k["turns"]]
                elif variant == "text":
                    rows = [mod.build_row(k, "text") for k in asm.kept if k["caption_ok"] and k["text_turns"]]
                else:
                    rows = []
                    for k in asm.kept:
                        m = assignment.get(k["id"])
                        if m in ("image", "both") and not k["turns"]:
                            m = "text" if k["caption_ok"] and k["text_turns"] else None
                        if m is not None:
                            rows.append(mod.build_row(k, m))
                    stats.counts["mixed_rows_by_modality"] = dict(sorted(Counter(r["modality"] for r in rows).items()))
                file_name = f"{settings.name}_{variant}.{ext}"
                if not rows:
                    stats.notes.append(f"variant {variant!r}: no usable row (no caption or caption QA survived); not written")
                    continue
                writer = out.dataset(file_name)
                for row in rows:
                    writer.write(row)
                stats.outputs[file_name] = {"rows": writer.rows, "sha256": writer.close()}
                written[variant] = len(rows)
                entries[f"{settings.name}_{variant}"] = {"file_name": file_name, "formatting": "vsfa"}
            out.dataset_info(entries, settings.merge_into, settings.replace_entry)
            stats.counts["rows"] = written
        rejected = out.file("rejected.jsonl")
        for r in asm.rejects:
            rejected.write(dumps_row(r) + "\n")
        stats.check()
        out.text("stats.json", stats.dumps())
    if with_datasets and not asm.kept:
        raise RecordError(f"{settings.out}: no picture survived the pipeline; nothing to train on. See "
                          f"{os.path.join(settings.out, 'rejected.jsonl')} and stats.json for the reasons")
    if with_datasets:
        _validate_outputs(settings, written)
    return {"stats": stats.to_dict(), "rows": written}


def _inputs(config: dict) -> list[str]:
    """The files this build reads (no output may replace one of them)."""
    return [config[key] for key in ("corpus", "captions") if config.get(key)]


def _dataset_entries(settings: Settings) -> dict:
    return {f"{settings.name}_{variant}": {"file_name": f"{settings.name}_{variant}.{settings.output_format}",
                                           "formatting": "vsfa"} for variant in settings.modalities}


def _validate_outputs(settings: Settings, written: dict[str, int]) -> None:
    """Every built file must load in our own format (a builder bug otherwise, never skipped)."""
    from ...records import validate_file

    for variant in written:
        validate_file(os.path.join(settings.out, f"{settings.name}_{variant}.{settings.output_format}"), "vsfa")


# ------------------------------------------------------------------------------------------------------
# the whole run
# ------------------------------------------------------------------------------------------------------


def build_vsfa(settings: Settings) -> dict:
    """Run the requested stages in order; returns a summary (stats when a final stage ran)."""
    for stage in settings.stages:
        if stage not in STAGES:
            raise RecordError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    for variant in settings.modalities:
        if variant not in mod.VARIANTS:
            raise RecordError(f"unknown modality {variant!r}; expected {', '.join(mod.VARIANTS)}")
    if "mixed" in settings.modalities:
        mod.parse_shares(settings.mixed_shares)
    plain_stem(settings.name)
    config = resolve_config(settings)
    if "modality" in settings.stages:  # refuse a clash with the lab's dataset_info.json before hours of work
        entries = _dataset_entries(settings)
        check_outputs(settings.out, [e["file_name"] for e in entries.values()], _inputs(config), entries,
                      settings.merge_into, settings.replace_entry)
    os.makedirs(settings.out, exist_ok=True)
    needs_text = any(m in ("text", "mixed") for m in settings.modalities)
    if settings.locked.get("caption_qa") is None and not os.path.exists(os.path.join(settings.out, CONFIG_FILE)):
        config["caption_qa"] = needs_text  # a first run decides whether the teacher writes caption QA
    if needs_text and not config["caption_qa"] and "modality" in settings.stages:
        raise RecordError(f"{os.path.join(settings.out, CONFIG_FILE)}: this folder was built without caption QA "
                          f"(--modalities image); the text/mixed variants need it: build them in a new --out, or "
                          f"pass --modalities image")
    _store_config(settings, config)
    summary: dict = {"config": config}
    ordered = [s for s in STAGES if s in settings.stages]
    for stage in ordered:
        if stage == "scenes":
            summary["scenes"] = len(run_scenes(settings, config))
        elif stage == "images":
            summary["images"] = len(run_images(settings, config))
        elif stage == "vqa":
            summary["vqa"] = len(run_vqa(settings, config))
    if "modality" in ordered:
        summary.update(write_outputs(settings, config, with_datasets=True))
    elif "filter" in ordered:
        summary.update(write_outputs(settings, config, with_datasets=False))
    return summary


__all__ = ["CONFIG_FILE", "LOCKED_DEFAULTS", "STAGES", "Settings", "assemble", "build_vsfa", "resolve_config"]
