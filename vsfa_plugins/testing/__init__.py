"""Test and demo helpers, kept out of the runtime package's top level.

* :mod:`.tiny` — tiny random-weight vision-language models of the papers' families, built locally;
* :mod:`.examples` — the example datasets shipped in ``llamafactory_configs/data``.

Nothing here is imported by the training or evaluation plugins; importing this package is cheap (heavy
imports happen inside the builder functions).
"""
