"""Benchmark releases on disk: the data root, the errors, and the shape of one evaluation row.

Every benchmark is read from ``$VSFA_DATA_ROOT/<folder>/`` (default ``~/.cache/vsfa/data``) in the exact
layout its authors publish. A benchmark whose official release lives on the Hugging Face hub falls back to
that hub id when its folder is absent. No file is ever rewritten: loaders read the published files and
turn each published item into one :data:`Row` (a flat dict of strings, so ``datasets`` can hold it).

Plain Python: no lmms-eval import here (the loaders are unit-tested alone).
"""

from __future__ import annotations

import hashlib
import json
import re
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..records.reader import non_utf8_where
from ..scoring.contract import ATTACK, BENIGN  # noqa: F401  (row kinds, one definition; modules import them here)
from .defenses import DEFENSES, NO_DEFENSE
from .errors import BenchmarkDataError, BenchmarkDataMissing, BenchmarkError  # noqa: F401  (re-exported)

DATA_ROOT_ENV = "VSFA_DATA_ROOT"
#: the file a synthetic sample release carries at its root (``Benchmark.write_sample``)
SYNTHETIC_MARKER = "SYNTHETIC_SAMPLE.txt"
DEFAULT_DATA_ROOT = "~/.cache/vsfa/data"

BLANK_IMAGE = "blank"  # ``image`` value: a white image instead of none (text-only variants, on request)
BEFORE_TEXT = "before_text"
AFTER_TEXT = "after_text"

#: the columns of every row, in order; all strings (``datasets`` needs one type per column)
ROW_FIELDS = (
    "id",  # unique within the task
    "benchmark",  # Benchmark.id
    "subset",  # the benchmark's own subset / variant name
    "kind",  # ATTACK | BENIGN
    "category",  # slug used in metric names ("" when the benchmark publishes no category for the row)
    "category_name",  # the benchmark's own category label
    "groups",  # comma-separated extra aggregates the row belongs to (e.g. FigStep "harmful")
    "question",  # the benchmark's text for this row, before any defense
    "judge_prompt",  # what the judge is told the user asked (the benchmark's original question)
    "judge_fields",  # JSON object of per-row texts a benchmark's own judge prompt needs ("" = none): handed
                     # to the judge in its meta, so the per-answer record carries them and re-judging needs no release
    "prompt",  # the exact text sent to the model (protocol + defense applied)
    "image",  # absolute path | "" (no image) | "blank"
    "image_position",  # BEFORE_TEXT | AFTER_TEXT
    "judge",  # judge id (vsfa_plugins.scoring registry)
    "source",  # "<file relative to the benchmark folder>#<row>"
)
Row = dict


BENCHMARK_PROTOCOL = "benchmark"  # the benchmark's own prompts and input order
REJECTION_MIX_PROTOCOL = "rejection_mix"  # as the rejection-mix paper's released evaluation code does it
PROTOCOLS = (BENCHMARK_PROTOCOL, REJECTION_MIX_PROTOCOL)
TEXT_ONLY_IMAGES = ("none", BLANK_IMAGE)


@dataclass(frozen=True)
class Options:
    """Per-task settings, from the task YAML's ``dataset_kwargs`` (all optional)."""

    defense: str = NO_DEFENSE
    protocol: str = BENCHMARK_PROTOCOL
    judge: str = ""  # "" = the benchmark's default judge
    text_only_image: str = "none"  # text-only rows: no image ("none") or a white image ("blank")

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any] | None, where: str) -> Options:
        kwargs = dict(kwargs or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise BenchmarkDataError(f"{where}: unknown dataset_kwargs {unknown}; known: {sorted(known)}")
        options = cls(**{k: str(v) for k, v in kwargs.items()})
        for name, allowed in (("defense", DEFENSES), ("protocol", PROTOCOLS), ("text_only_image", TEXT_ONLY_IMAGES)):
            if getattr(options, name) not in allowed:
                raise BenchmarkDataError(f"{where}: dataset_kwargs.{name}={getattr(options, name)!r}; allowed: {allowed}")
        return options


def slug(text: str) -> str:
    """A metric-name-safe slug of a published category label (lowercase, ``_`` between words)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def data_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT).expanduser()


@dataclass(frozen=True)
class Subset:
    name: str
    kind: str  # ATTACK | BENIGN
    description: str
    needs: tuple[str, ...]  # files / folders (relative to the release folder) this subset reads; "a|b": either
    image_condition: str = "with_image"  # vsfa_plugins.scoring.metrics.IMAGE_CONDITIONS (text-only: "no_image")
    published_rows: int | None = None  # the row count the authors publish (vsfa doctor compares)


@dataclass(frozen=True)
class OfficialJudge:
    """A benchmark's own LLM judge, as its authors publish it: the prompt verbatim (``template``, filled with
    ``str.format``: ``{question}`` = the row's judge prompt, i.e. the benchmark's question, ``{response}`` = the
    model's answer, any other ``{name}`` = ``meta[name]``, e.g. ``{category}`` or a per-row text the loader put
    in ``judge_fields``), an optional system message,
    the request parameters, and ``parse``: the answer text -> a verdict label of
    :mod:`vsfa_plugins.scoring.verdict` (``ValueError`` when it cannot be read: a judge error, never safe).
    :mod:`vsfa_plugins.scoring.llm` registers every one of them as an LLM judge."""

    judge_id: str
    scheme: str  # "safety" (safe / unsafe) or "refusal" (full / partial refusal, compliance)
    source: str  # repository + path + commit the prompt is copied from
    template: str
    parse: Callable[[str], str]
    system: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    id: str  # also the folder name under the data root
    title: str
    published: str  # where the release is published (shown in the missing-data message)
    layout: str  # one-paragraph description of the expected files
    subsets: Mapping[str, Subset]
    categories: tuple[tuple[str, str, tuple[str, ...]], ...]  # (slug, published name, kinds), complete published list
    default_judge: str
    load: Callable[..., list[Row]]  # load(folder, subset, options) -> rows
    hf_id: str | None = None
    hf_fetch: Callable[[], Path] | None = None  # materialise the official hub release as a local folder
    extra_groups: tuple[str, ...] = ()  # names used in Row["groups"]
    #: subfolders of ``<data root>/<id>/`` where the release layout may start, in order: "" = the folder
    #: itself, "data" = a plain ``git clone`` of a repository that keeps its files under ``data/``
    release_dirs: tuple[str, ...] = ("",)
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: its lmms-eval tasks (a :class:`~vsfa_plugins.benchmarks.tasks.TaskLayout`; scripts/gen_tasks.py writes them)
    tasks: Any = None
    #: its own LLM judges (prompt verbatim), registered by vsfa_plugins.scoring.llm beside the built-in ones
    judges: tuple[OfficialJudge, ...] = ()
    #: ``write_sample(root) -> folder``: a small synthetic copy of the release in its exact official layout under
    #: ``root/<id>/`` (a few rows, marked synthetic: ``SYNTHETIC_SAMPLE.txt``), for smoke tests and test fixtures
    write_sample: Callable[[Path], Path] | None = None

    def folder(self) -> Path:
        return data_root() / self.id

    def subset(self, name: str | None) -> Subset:
        if name not in self.subsets:
            raise BenchmarkDataError(
                f"{self.title}: unknown subset {name!r} (task YAML `dataset_name`); "
                f"known subsets: {', '.join(self.subsets)}"
            )
        return self.subsets[name]

    def missing_message(self, folder: Path, missing: list[str] | None = None, hub_error: str | None = None) -> str:
        lines = [f"{self.title} data not found: expected the official release in {folder}/"]
        if missing:
            lines.append("  missing: " + ", ".join(missing))
        lines.append(f"  layout: {self.layout}")
        lines.append(f"  published at: {self.published}")
        if self.hf_id:
            lines.append(f"  hub fallback {self.hf_id}: {hub_error or 'not tried'}")
        lines.append(f"  data root: ${DATA_ROOT_ENV} (now {data_root()})")
        return "\n".join(lines)


#: resolved folders and failures, per process (a hub fallback is tried at most once per benchmark)
_RESOLVED: dict[str, Path | BenchmarkDataMissing] = {}


def resolve(benchmark: Benchmark, subset: str | None = None) -> Path:
    """The folder to read ``benchmark`` from; checks that the files ``subset`` (or any subset) needs exist.

    Order: ``$VSFA_DATA_ROOT/<id>/`` when that folder exists; else the official hub release (if the
    benchmark has one); else :class:`BenchmarkDataMissing` with the full message.
    """
    folder = benchmark.folder()
    if folder.is_dir():
        base = folder
    else:
        cached = _RESOLVED.get(benchmark.id)
        if isinstance(cached, BenchmarkDataMissing):
            raise cached
        if cached is None:
            try:
                cached = _fetch_from_hub(benchmark, folder)
            except BenchmarkDataMissing as err:
                _RESOLVED[benchmark.id] = err
                raise
            _RESOLVED[benchmark.id] = cached
        base = cached
    needs = benchmark.subset(subset).needs if subset else _all_needs(benchmark)
    base = release_folder(benchmark, base)
    missing = [n for n in needs if not need_exists(base, n)]
    if missing and subset:
        raise BenchmarkDataMissing(benchmark.missing_message(base, missing))
    if missing and len(missing) == len(needs):
        raise BenchmarkDataMissing(benchmark.missing_message(base, missing))
    return base


def is_present(benchmark: Benchmark) -> tuple[bool, str]:
    """(True, folder) when some of the release is there; (False, message) when it is absent."""
    try:
        return True, str(resolve(benchmark))
    except BenchmarkDataMissing as err:
        return False, str(err)


def local_status(benchmark: Benchmark) -> tuple[str, list[str]]:
    """Without touching the hub: ("found" | "incomplete" | "absent", the expected paths that are missing)."""
    folder = benchmark.folder()
    needs = _all_needs(benchmark)
    if not folder.is_dir():
        return "absent", list(needs)
    base = release_folder(benchmark, folder)
    missing = [n for n in needs if not need_exists(base, n)]
    return ("incomplete" if missing else "found"), missing


def _all_needs(benchmark: Benchmark) -> tuple[str, ...]:
    return tuple(sorted({n for s in benchmark.subsets.values() for n in s.needs}))


def need_exists(base: Path, need: str) -> bool:
    """``need`` is a path relative to ``base``, or alternatives ``a|b`` (releases that named a file differently)."""
    return any((base / alternative).exists() for alternative in need.split("|"))


def release_folder(benchmark: Benchmark, folder: Path) -> Path:
    """Where the release layout starts inside ``folder``: the first of ``benchmark.release_dirs`` holding any
    file the benchmark reads (so a plain ``git clone`` with its ``data/`` works), else ``folder``."""
    needs = _all_needs(benchmark)
    for sub in benchmark.release_dirs:
        candidate = folder / sub if sub else folder
        if candidate.is_dir() and any(need_exists(candidate, n) for n in needs):
            return candidate
    return folder


@dataclass
class SubsetCheck:
    """One subset as ``vsfa doctor`` reports it: rows read (every referenced image stat-ed by the loader)
    next to the published count, or the first error the run would hit."""

    benchmark: str
    subset: str
    rows: int | None
    published: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def line(self) -> str:
        published = f"published {self.published}" if self.published is not None else "no published count"
        if self.error:
            return f"{self.subset}: ERROR {self.error}"
        mark = "" if self.published in (None, self.rows) else "  <- differs from the published count"
        return f"{self.subset}: {self.rows} rows ({published}){mark}"


def _fetch_from_hub(benchmark: Benchmark, folder: Path) -> Path:
    if benchmark.hf_fetch is None:
        raise BenchmarkDataMissing(benchmark.missing_message(folder))
    try:
        return benchmark.hf_fetch()
    except BenchmarkError:
        raise
    except Exception as err:  # offline, gated, not cached, network: all mean "not available here"
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        raise BenchmarkDataMissing(benchmark.missing_message(folder, hub_error=f"failed ({reason})")) from None


def hub_cache_dir(benchmark_id: str) -> Path:
    """Where a hub fallback materialises files it has to write (images extracted from archives / parquet)."""
    return Path(os.environ.get("VSFA_CACHE_DIR") or "~/.cache/vsfa-plugins").expanduser() / "hub-extract" / benchmark_id


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def make_row(**values: Any) -> Row:
    unknown = set(values) - set(ROW_FIELDS)
    if unknown:
        raise TypeError(f"unknown row fields {sorted(unknown)}")
    row = {name: "" for name in ROW_FIELDS}
    for name, value in values.items():
        if name == "judge_fields" and isinstance(value, Mapping):
            value = json.dumps({str(k): str(v) for k, v in value.items()}, sort_keys=True) if value else ""
        row[name] = "" if value is None else str(value)
    return row


def judge_fields(row: Mapping[str, Any]) -> dict[str, str]:
    """The row's per-row judge texts (``make_row(judge_fields={...})``), as a dict."""
    text = row.get("judge_fields") or ""
    return json.loads(text) if text else {}


def text_field(obj: Mapping, key: str, where: str) -> str:
    """A required non-empty string field of a published item; the error names file and row."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        got = "missing" if not isinstance(obj, Mapping) or key not in obj else f"{type(value).__name__} {value!r}"[:80]
        raise BenchmarkDataError(f"{where}: field {key!r} must be a non-empty string ({got})")
    return value


def id_field(obj: Mapping, key: str, where: str) -> str:
    """A published integer id (``obj[key]``: an int or a non-empty string of one) as the row id string;
    a bool, a float, another type or an empty value is refused naming the row."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not value.strip()):
        got = "missing" if key not in obj else f"{type(value).__name__} {value!r}"[:80]
        raise BenchmarkDataError(f"{where}: field {key!r} must be an integer ({got})")
    return str(value).strip()


def member_path(obj: Mapping, key: str, where: str, inside: str = "the release") -> str:
    """A relative path a release names (``obj[key]``), refused — naming the row — when it would leave the
    release: absolute, a drive, or ``..``. The one check of the loaders' path fields."""
    from pathlib import PurePosixPath

    value = text_field(obj, key, where)
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if value.startswith(("/", "\\")) or ".." in parts or ":" in value:
        raise BenchmarkDataError(f"{where}: field {key!r} must name a file inside {inside} ({value!r})")
    return value


def require_file(path: Path, where: str, what: str) -> Path:
    if not path.is_file():
        raise BenchmarkDataError(f"{where}: {what} {path} does not exist")
    return path


def read_json(path: Path, base: Path) -> Any:
    """A published JSON file; malformed JSON or non-UTF-8 fails naming file, line and column."""
    import json

    name = relative(path, base)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise BenchmarkDataError(f"{name}:{err.lineno}:{err.colno}: malformed JSON ({err.msg})") from None
    except UnicodeDecodeError:
        raise BenchmarkDataError(non_utf8_where(path, name)) from None


def read_csv(path: Path, base: Path, columns: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    """Rows of a published CSV as ``(where, row)``; ``where`` is ``file:line``. The header must hold ``columns``."""
    import csv

    name = relative(path, base)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise BenchmarkDataError(f"{name}:1: header {header} lacks columns {missing}")
            rows = []
            for row in reader:
                where = f"{name}:{reader.line_num}"
                if None in row or any(value is None for value in row.values()):
                    raise BenchmarkDataError(f"{where}: the row's number of fields differs from the header's ({len(header)})")
                rows.append((where, row))
            return rows
    except UnicodeDecodeError:
        raise BenchmarkDataError(non_utf8_where(path, name)) from None
    except csv.Error as err:
        raise BenchmarkDataError(f"{name}: malformed CSV ({err})") from None


# --- synthetic samples ------------------------------------------------------------------------------

_SAMPLE_COLOURS = ((200, 30, 30), (30, 160, 60), (40, 60, 200), (220, 200, 40))


def sample_image(path: Path, index: int = 0, size: int = 32) -> Path:
    """A tiny plain image for a synthetic sample release (PNG or JPEG by the file name); deterministic."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (size, size), _SAMPLE_COLOURS[index % len(_SAMPLE_COLOURS)])
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}[path.suffix.lower()]
    image.save(path, format=fmt)
    return path


def mark_synthetic(folder: Path, title: str) -> Path:
    """The marker at the root of a synthetic sample release (``Benchmark.write_sample``); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SYNTHETIC_MARKER).write_text(
        f"synthetic sample written by vsfa-plugins, not the benchmark: {title} in its official file layout, a few "
        "placeholder rows and tiny plain images, for smoke tests only\n", encoding="utf-8")
    return folder
