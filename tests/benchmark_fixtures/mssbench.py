"""MSSBench (chat): the benchmark's synthetic sample release, in the hub's layout (combined.json + chat/)."""

from vsfa_plugins.benchmarks import mssbench

BENCHMARK_ID = "mssbench"


def build(root):
    return mssbench.write_sample(root)
