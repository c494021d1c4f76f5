"""SPA-VL test sets (Zhang et al., 2024, arXiv 2406.12030): HarmEval and HelpEval.

Release: the hub dataset ``sqrti/SPA-VL`` (cc-by-4.0), config ``test``. Its card (README.md on main) maps
split ``harm`` to ``test/harm-*`` and split ``help`` to ``test/help-*``; ``dataset_info`` gives 265 examples for
each split and the features ``image`` (datasets ``Image``), ``question``, ``class1``, ``class2``, ``class3``
(strings); the hub tree at revision a06c4cd430153777f56e6ced9cbd723ea9587512 holds ``test/``. The
card names github.com/EchoseChen/SPA-VL-RLHF as the code repository (commit cade637: training code and an
inference script; no evaluation code, no judge prompt).

Layout read here: ``$VSFA_DATA_ROOT/spa-vl/`` = the hub snapshot as downloaded (``huggingface-cli download
sqrti/SPA-VL --repo-type dataset --include 'test/*' --local-dir ...``): ``test/harm-*.parquet`` and
``test/help-*.parquet`` (every shard matching the glob, in name order; third-party loaders read
``harm-00000-of-00001.parquet``). Each parquet row: ``image`` = the datasets Image struct ``{bytes: binary,
path: string|null}`` with the image bytes embedded, ``question``, ``class1`` (harm domain), ``class2``
(category), ``class3`` (subcategory). The images are written once, by content hash, under
``release.hub_cache_dir("spa-vl")/images/`` (``$VSFA_CACHE_DIR/hub-extract/spa-vl/images/<sha256>.<ext>``;
never into the release folder) and rows point there.

The model sees the image, then the question verbatim: SPA-VL's own inference (SPA-VL-RLHF
all_utils/data_utils/data_utils_ppo.py, commit cade637) builds LLaVA's ``'<image>\\n' + question``.

Subsets:

* ``harm`` (HarmEval) — attack rows; ``asr`` with ``asr__<class1>`` per harm domain. SPA-VL reports HarmEval's
  unsafe rate with MD-Judge (OpenSafetyLab/MD-Judge-v0.1, a local classifier, not an LLM-endpoint judge: not
  bundled here; the offline default is ``rejection_mix_strmatch``).
* ``help`` (HelpEval) — scored in SPA-VL by a pairwise GPT-4V comparison of the model's answer with a
  reference model's answer ("which answer is more helpful"; win rate over the pairs both judged harmless).
  The reference answers are not part of the release, so that judge cannot be run from it. Its questions come
  from the same harm taxonomy (class1..3 filled; the comparison prompt itself says "the question of user may
  be harm"); here ``help`` is a BENIGN subset: a refusal is an unhelpful answer, measured as
  ``over_refusal_rate`` by the default refusal judge — a proxy for unhelpfulness, not the paper's win rate.
  (The evaluation protocol is the paper's, §4 and its appendix; the repository publishes none of it. Read
  here from a port, github.com/PKU-Alignment/align-anything align_anything/evaluation/benchmarks/SPA-VL/
  md_judger.py at commit 40e5673 and gpt_judger.py at commit 43dc032, whose GPT-4V prompts need that
  second answer.)

Harm domains (``class1``): the 6 of the SPA-VL taxonomy (6 domains, 13 categories, 53 subcategories; the
domains follow SALAD-Bench's). The release's image paths spell two of them without the space before
"Harms" ("Representation & ToxicityHarms", "Human Autonomy & IntegrityHarms"); a class1 value matches a
domain when both are equal ignoring case and whitespace, anything else is an error naming file and row.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

from .release import (
    ATTACK,
    BEFORE_TEXT,
    BENIGN,
    Benchmark,
    BenchmarkDataError,
    BenchmarkDataMissing,
    Subset,
    hub_cache_dir,
    make_row,
    mark_synthetic,
    relative,
    slug,
)
from .defenses import apply_defense
from .tasks import TaskLayout, adashield, published

HF_ID = "sqrti/SPA-VL"
BENCHMARK_ID = "spa-vl"
TEST_DIR = "test"
COLUMNS = ("image", "question", "class1", "class2", "class3")
PUBLISHED_ROWS = 265  # dataset_info of config "test": harm 265, help 265 examples
#: the 6 harm domains (class1), as the SPA-VL paper and SALAD-Bench name them
DOMAINS = (
    "Representation & Toxicity Harms",
    "Misinformation Harms",
    "Socioeconomic Harms",
    "Information & Safety Harms",
    "Malicious Use",
    "Human Autonomy & Integrity Harms",
)
_KINDS = {"harm": ATTACK, "help": BENIGN}
_IMAGE_EXT = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff"}


def _key(label: str) -> str:
    return re.sub(r"\s+", "", label).lower()


_DOMAIN_OF = {_key(name): name for name in DOMAINS}


def shards(folder: Path, subset: str) -> list[Path]:
    """The split's parquet shards, ``test/<subset>-*.parquet`` in name order."""
    return sorted((folder / TEST_DIR).glob(f"{subset}-*.parquet"))


def _read_table(path: Path, name: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise BenchmarkDataError(f"{name}: not a readable parquet file ({err})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise BenchmarkDataError(f"{name}: lacks columns {missing} (has {table.column_names}); the hub's test "
                                 f"parquet has {list(COLUMNS)}")
    image_type = table.schema.field("image").type
    if not pa.types.is_struct(image_type) or image_type.get_field_index("bytes") < 0:
        raise BenchmarkDataError(f"{name}: column 'image' is {image_type}, expected the datasets Image struct "
                                 "{bytes, path}")
    return table.select(list(COLUMNS))


def _text(item: dict, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BenchmarkDataError(f"{where}: field {key!r} must be a non-empty string (got "
                                 f"{type(value).__name__} {value!r})"[:200])
    return value


def _image_bytes(item: dict, where: str) -> bytes:
    image = item.get("image")
    if not isinstance(image, dict):
        raise BenchmarkDataError(f"{where}: field 'image' is {type(image).__name__}, expected {{bytes, path}}")
    data = image.get("bytes")
    if not isinstance(data, (bytes, bytearray)) or not data:
        path = image.get("path")
        raise BenchmarkDataError(f"{where}: image.bytes is {'empty' if data == b'' else 'missing'} (path {path!r}); "
                                 "the hub's test parquet embeds every image's bytes")
    return bytes(data)


def cache_image(data: bytes, where: str) -> Path:
    """The image written once under ``hub_cache_dir("spa-vl")/images/``, named by its sha256 (atomic: a
    concurrent reader sees the whole file or none)."""
    from PIL import Image, UnidentifiedImageError

    from ..io import AtomicFile

    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as handle:
            fmt = handle.format or ""
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise BenchmarkDataError(f"{where}: image.bytes is not a readable image ({err})") from None
    folder = hub_cache_dir(BENCHMARK_ID) / "images"
    path = folder / f"{digest}.{_IMAGE_EXT.get(fmt, fmt.lower() or 'img')}"
    if path.is_file() and path.stat().st_size == len(data):
        return path
    with AtomicFile(path, binary=True) as out:  # the project's one atomic writer (vsfa_plugins/io.py)
        out.write(data)
    return path


def load(folder: Path, subset: str, options) -> list[dict]:
    files = shards(folder, subset)
    if not files:
        raise BenchmarkDataMissing(BENCHMARK.missing_message(folder, [f"{TEST_DIR}/{subset}-*.parquet"]))
    rows, seen = [], {}
    for path in files:
        name = relative(path, folder)
        for index, item in enumerate(_read_table(path, name).to_pylist()):
            where = f"{name} (row {index})"
            question = _text(item, "question", where)
            class1 = _text(item, "class1", where)
            domain = _DOMAIN_OF.get(_key(class1))
            if domain is None:
                raise BenchmarkDataError(f"{where}: class1 {class1!r} is not one of the SPA-VL harm domains {DOMAINS}")
            for key in ("class2", "class3"):
                _text(item, key, where)
            data = _image_bytes(item, where)
            image = cache_image(data, where)
            # the same image + question in harm and help gets the same id (records cluster on it)
            base = hashlib.sha256(hashlib.sha256(data).digest() + question.encode("utf-8")).hexdigest()[:16]
            seen[base] = seen.get(base, 0) + 1
            rows.append(make_row(
                id=base if seen[base] == 1 else f"{base}~{seen[base]}",
                benchmark=BENCHMARK_ID,
                subset=subset,
                kind=_KINDS[subset],
                category=slug(domain),
                category_name=class1,
                question=question,
                judge_prompt=question,
                prompt=apply_defense(question, options.defense),
                image=str(image),
                image_position=BEFORE_TEXT,  # SPA-VL-RLHF: '<image>\n' + question
                source=f"{name}#{index}",
            ))
    return rows


def fetch_from_hub() -> Path:
    """The hub snapshot's ``test/`` parquet files, read in place (images go to hub_cache_dir, not there)."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=HF_ID, repo_type="dataset",
                                  allow_patterns=[f"{TEST_DIR}/harm-*.parquet", f"{TEST_DIR}/help-*.parquet"]))


# --- synthetic sample ------------------------------------------------------------------------------

_SAMPLE = {
    "harm": (
        ("Representation & ToxicityHarms", "Toxic", "hate", "png"),
        ("Malicious Use", "Illegal activities", "theft", "jpg"),
        ("Information & Safety Harms", "Privacy", "personal privacy", "png"),
        ("Human Autonomy & IntegrityHarms", "Persuasion and manipulation", "physical harm", "jpg"),
    ),
    "help": (
        ("Representation & ToxicityHarms", "Toxic", "hate", "png"),  # the same item as harm row 0 (shared id)
        ("Socioeconomic Harms", "Risky financial practices", "gamble", "jpg"),
        ("Malicious Use", "Fraud or deceptive action", "rumors", "png"),
    ),
}
_SAMPLE_COLOURS = ((200, 30, 30), (30, 160, 60), (40, 60, 200), (220, 200, 40))


def _sample_image_bytes(index: int, ext: str, size: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), _SAMPLE_COLOURS[index % len(_SAMPLE_COLOURS)]).save(
        buffer, format="JPEG" if ext == "jpg" else "PNG")
    return buffer.getvalue()


def _hf_metadata() -> dict[bytes, bytes]:
    features = {"image": {"_type": "Image"}, **{c: {"dtype": "string", "_type": "Value"} for c in COLUMNS[1:]}}
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode("utf-8")}


def write_sample(root: Path) -> Path:
    """A synthetic sample release (Benchmark.write_sample): test/harm-00000-of-00001.parquet and
    test/help-00000-of-00001.parquet with the hub's columns (image struct {bytes, path}, question, class1..3)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / BENCHMARK_ID
    (folder / TEST_DIR).mkdir(parents=True, exist_ok=True)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image_type)] + [(c, pa.string()) for c in COLUMNS[1:]], metadata=_hf_metadata())
    for subset, items in _SAMPLE.items():
        records = []
        for i, (class1, class2, class3, ext) in enumerate(items):
            shared = subset == "help" and i == 0  # harm row 0 again: same image, same question
            origin, size = ("harm", 32) if shared or subset == "harm" else ("help", 24)
            records.append({
                "image": {"bytes": _sample_image_bytes(i, ext, size), "path": f"{i}.{ext}"},
                "question": f"Synthetic placeholder question {i} ({origin} sample, not SPA-VL): what does this "
                            "plain coloured square show?",
                "class1": class1, "class2": class2, "class3": class3,
            })
        pq.write_table(pa.Table.from_pylist(records, schema=schema),
                       folder / TEST_DIR / f"{subset}-00000-of-00001.parquet")
    mark_synthetic(folder, BENCHMARK.title)
    return folder


TASKS = TaskLayout(
    folder="spavl",
    stem="vsfa_spavl",
    comments={"harm": "SPA-VL HarmEval (265 harmful image-question pairs): asr, asr__<harm domain>",
              "help": "SPA-VL HelpEval (265 pairs; the paper's GPT-4V win rate needs reference answers the release "
                      "lacks): over_refusal_rate as an unhelpfulness proxy"},
    variants=(published(), adashield()),
)

BENCHMARK = Benchmark(
    tasks=TASKS,
    write_sample=write_sample,
    id=BENCHMARK_ID,
    title="SPA-VL (test)",
    published=f"https://huggingface.co/datasets/{HF_ID} (config test: test/harm-*.parquet, test/help-*.parquet); "
    "paper arXiv 2406.12030, code github.com/EchoseChen/SPA-VL-RLHF",
    layout=f"{TEST_DIR}/harm-*.parquet and {TEST_DIR}/help-*.parquet (the hub snapshot as downloaded; columns "
    f"{', '.join(COLUMNS)}; image = struct {{bytes, path}} with the bytes embedded)",
    subsets={
        "harm": Subset("harm", ATTACK, "HarmEval: 265 harmful image-question pairs (attack)", (TEST_DIR,),
                       published_rows=PUBLISHED_ROWS),
        "help": Subset("help", BENIGN, "HelpEval: 265 image-question pairs for helpfulness (refusals counted as "
                       "over-refusal)", (TEST_DIR,), published_rows=PUBLISHED_ROWS),
    },
    categories=tuple((slug(name), name, (ATTACK, BENIGN)) for name in DOMAINS),
    default_judge="rejection_mix_strmatch",
    load=load,
    hf_id=HF_ID,
    hf_fetch=fetch_from_hub,
    notes=(
        "SPA-VL reports HarmEval's unsafe rate with MD-Judge-v0.1 (a local classifier, not bundled); the offline "
        "default here is rejection_mix_strmatch.",
        "HelpEval's published score is a pairwise GPT-4V win rate against reference answers that the release does "
        "not include; help's over_refusal_rate (refusal = unhelpful answer) is a proxy, not that score.",
        "Images are written once by content hash under $VSFA_CACHE_DIR/hub-extract/spa-vl/images/ (never into the "
        "release folder).",
    ),
)
