"""MM-Vet fixture: the module's synthetic sample release."""

from vsfa_plugins.benchmarks import mmvet

BENCHMARK_ID = mmvet.BENCHMARK.id


def build(root):
    return mmvet.write_sample(root)
