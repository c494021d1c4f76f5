"""Dataset builders: source files → a LLaMA-Factory-ready dataset + its ``dataset_info.json`` entry +
``stats.json`` (+ ``rejected.jsonl``), byte-identical for the same inputs and seed.

* :mod:`.outputs`        the shared part: atomic outputs, dataset_info merge, stats, rejects, ``--skip-bad``
* :mod:`.rejection_mix`  ``vsfa build-rejection-mix`` — Wang et al., CVPR 2025 (``--compat reference``)
* :mod:`.vlguard`        ``vsfa build-vlguard`` — VLGuard's train.json as a curated-data baseline
* :mod:`.contamination`  ``vsfa contamination`` — perceptual-hash overlap with benchmark images

Kept import-free here: ``vsfa --help`` imports only :mod:`.cli`.
"""
