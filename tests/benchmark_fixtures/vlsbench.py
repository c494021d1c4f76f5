"""VLSBench: the module's synthetic sample (the hub's data.json + imgs/<n>.png)."""

from vsfa_plugins.benchmarks import vlsbench

BENCHMARK_ID = "vlsbench"


def build(root):
    return vlsbench.write_sample(root)
