"""The benchmark registry: one module per benchmark, each reading its official release layout.

A task YAML says ``dataset_path: vsfa:<benchmark id>`` and ``dataset_name: <subset>``; its
``dataset_kwargs`` are the :class:`Options` (defense, protocol, judge, text-only image). :func:`load_rows`
turns that into the task's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import importlib
import pkgutil

from .release import (
    ATTACK,
    BENCHMARK_PROTOCOL,
    BENIGN,
    PROTOCOLS,
    REJECTION_MIX_PROTOCOL,
    Benchmark,
    BenchmarkDataError,
    BenchmarkDataMissing,
    BenchmarkError,
    Options,
    Row,
    SubsetCheck,
    need_exists,
    release_folder,
    resolve,
    slug,
)

#: the package's shared modules; every other module here is one benchmark (it defines ``BENCHMARK``)
_SHARED = ("cli", "defenses", "errors", "release", "tasks")
#: the suite's order for the first benchmarks; later ones follow in module-name order
_FIRST = ("mmsafetybench", "figstep", "vlguard", "xstest", "mossbench")


def _discover() -> dict[str, Benchmark]:
    names = [info.name for info in pkgutil.iter_modules(__path__) if info.name not in _SHARED]
    ordered = [n for n in _FIRST if n in names] + sorted(n for n in names if n not in _FIRST)
    found: dict[str, Benchmark] = {}
    for name in ordered:
        module = importlib.import_module(f"{__name__}.{name}")
        benchmark = getattr(module, "BENCHMARK", None)
        if not isinstance(benchmark, Benchmark):
            raise ImportError(f"vsfa_plugins/benchmarks/{name}.py defines no BENCHMARK (every module here but "
                              f"{', '.join(_SHARED)} is one benchmark)")
        if benchmark.id in found:
            raise ImportError(f"benchmark id {benchmark.id!r} defined twice ({name}.py)")
        found[benchmark.id] = benchmark
    return found


#: every benchmark, built eagerly from its module (one module per benchmark: its layouts, categories,
#: prompts, published counts, loader, sample writer); adding ``benchmarks/<name>.py`` registers it
_BENCHMARKS: dict[str, Benchmark] = _discover()


def benchmarks() -> dict[str, Benchmark]:
    return _BENCHMARKS


def get_benchmark(benchmark_id: str) -> Benchmark:
    known = benchmarks()
    if benchmark_id not in known:
        raise BenchmarkDataError(
            f"unknown benchmark {benchmark_id!r} (task YAML dataset_path vsfa:<id>); known: {', '.join(known)}"
        )
    return known[benchmark_id]


def load_rows(benchmark_id: str, subset: str | None, dataset_kwargs: Mapping[str, Any] | None, task: str = "") -> tuple[Benchmark, Options, list[Row]]:
    """Read one task's rows from the release on disk (or the hub fallback); every row already holds the
    exact model prompt, the image path and the judge id."""
    benchmark = get_benchmark(benchmark_id)
    where = f"task {task or benchmark_id}"
    options = Options.from_kwargs(dataset_kwargs, where)
    sub = benchmark.subset(subset)
    judge_id = options.judge or benchmark.default_judge
    check_judge(judge_id, sub.kind, where)
    folder = resolve(benchmark, sub.name)
    rows = benchmark.load(folder, sub.name, options)
    if not rows:
        raise BenchmarkDataError(f"{where}: {benchmark.title} subset {sub.name!r} has no rows in {folder}")
    seen: set[str] = set()
    for row in rows:
        if row["id"] in seen:
            raise BenchmarkDataError(f"{where}: duplicate row id {row['id']!r} ({row['source']})")
        seen.add(row["id"])
        row["judge"] = judge_id
    return benchmark, options, rows


def check_judge(judge_id: str, kind: str, where: str) -> None:
    """The judge must exist; over-refusal needs a judge that detects refusals (not a safe/unsafe judge)."""
    from vsfa_plugins.scoring import verdict

    try:
        verdict.get_judge(judge_id)
    except KeyError as err:
        raise BenchmarkDataError(f"{where}: {err.args[0]}") from None
    info = getattr(verdict, "get_judge_info", None)
    scheme = getattr(info(judge_id), "scheme", "refusal") if info else "refusal"
    if kind == BENIGN and scheme != "refusal":
        raise BenchmarkDataError(
            f"{where}: judge {judge_id!r} labels responses safe/unsafe (scheme {scheme!r}); over-refusal on a "
            "benign subset needs a refusal judge (e.g. rejection_mix_strmatch, xstest_strmatch, xstest_gpt)"
        )


def check_local_release(benchmark: Benchmark) -> list[SubsetCheck]:
    """Read every subset of ``benchmark``'s local release (no hub) as a run would — the loaders stat every
    image a row references — and count its rows. Empty when the benchmark's folder is absent."""
    folder = benchmark.folder()
    if not folder.is_dir():
        return []
    base = release_folder(benchmark, folder)
    checks = []
    for sub in benchmark.subsets.values():
        check = SubsetCheck(benchmark.id, sub.name, None, sub.published_rows)
        missing = [n for n in sub.needs if not need_exists(base, n)]
        try:
            if missing:
                raise BenchmarkDataMissing(f"missing {', '.join(missing)} in {base}")
            check.rows = len(benchmark.load(base, sub.name, Options()))
        except BenchmarkError as err:
            check.error = str(err).splitlines()[0]
        checks.append(check)
    return checks


__all__ = ["ATTACK", "BENCHMARK_PROTOCOL", "BENIGN", "PROTOCOLS", "REJECTION_MIX_PROTOCOL", "Options",
           "BenchmarkDataError", "BenchmarkDataMissing", "BenchmarkError", "benchmarks", "check_local_release",
           "get_benchmark", "load_rows", "slug"]
