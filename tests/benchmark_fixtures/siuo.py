"""SIUO: the module's synthetic sample (a git clone's data/siuo_gen.json + data/images/<file>.png)."""

from vsfa_plugins.benchmarks import siuo

BENCHMARK_ID = "siuo"


def build(root):
    return siuo.write_sample(root)
