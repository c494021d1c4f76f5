"""SPA-VL test sets: the module's synthetic sample in the hub's layout (test/harm-*.parquet, test/help-*.parquet)."""

from vsfa_plugins.benchmarks import spavl

BENCHMARK_ID = "spa-vl"


def build(root):
    return spavl.write_sample(root)
