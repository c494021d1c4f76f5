"""Builders of small benchmark releases in each official layout (a few rows, tiny images), for tests.

Each ``build_*`` writes under ``root/<benchmark folder>/`` exactly the files and fields the release
publishes (see vsfa_plugins/benchmarks/<name>.py for the sources); the texts are neutral placeholders. They are
the benchmarks' own synthetic samples (``Benchmark.write_sample``, also behind ``vsfa data sample``); later
benchmarks' fixtures live in tests/benchmark_fixtures/.
``build_all(root)`` writes every benchmark; ``build_mme_parquet`` writes a stock-task (MME) parquet in the
hub dataset's schema. Deterministic: same call, same bytes.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vsfa_plugins.benchmarks import figstep, mmsafetybench, mossbench, vlguard, xstest
from vsfa_plugins.benchmarks.release import sample_image

tiny_image = sample_image  # the same tiny plain images the sample releases use

#: the first five benchmarks' fixtures are their own synthetic sample releases (Benchmark.write_sample)
build_mmsafetybench = mmsafetybench.write_sample
build_figstep = figstep.write_sample
build_vlguard = vlguard.write_sample
build_xstest = xstest.write_sample
build_mossbench = mossbench.write_sample


def _fixture_modules() -> dict:
    """``tests/benchmark_fixtures/<module>.py``: one fixture per later benchmark (BENCHMARK_ID, build)."""
    import importlib
    import pkgutil

    from benchmark_fixtures import __path__ as folder

    found = {}
    for info in sorted(pkgutil.iter_modules(folder), key=lambda i: i.name):
        module = importlib.import_module(f"benchmark_fixtures.{info.name}")
        found[module.BENCHMARK_ID] = module.build
    return found


BUILDERS = {
    "mm-safetybench": build_mmsafetybench,
    "figstep": build_figstep,
    "vlguard": build_vlguard,
    "xstest": build_xstest,
    "mossbench": build_mossbench,
    **_fixture_modules(),
}


def build_all(root: Path, only=None) -> Path:
    for benchmark_id, build in BUILDERS.items():
        if only is None or benchmark_id in only:
            build(root)
    return root


def build_mme_parquet(path: Path) -> Path:
    """A two-question MME pair in the hub dataset's schema (question_id, image, question, answer, category)."""
    import datasets

    features = datasets.Features({
        "question_id": datasets.Value("string"), "image": datasets.Image(), "question": datasets.Value("string"),
        "answer": datasets.Value("string"), "category": datasets.Value("string"),
    })
    image = Image.new("RGB", (32, 32), (200, 30, 30))
    data = {
        "question_id": ["fixture/0001.png", "fixture/0001.png"],
        "image": [image, image],
        "question": ["Is the square red? Please answer yes or no.", "Is the square blue? Please answer yes or no."],
        "answer": ["Yes", "No"],
        "category": ["color", "color"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(data, features=features).to_parquet(str(path))
    return path
