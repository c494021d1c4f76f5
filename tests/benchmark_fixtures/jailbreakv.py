"""JailBreakV-28K (mini): the benchmark's synthetic sample release, in the hub repository's layout
(JailBreakV_28K/mini_JailBreakV_28K.csv + the image folders beside it)."""

from vsfa_plugins.benchmarks import jailbreakv

BENCHMARK_ID = "jailbreakv-28k"


def build(root):
    return jailbreakv.write_sample(root)
