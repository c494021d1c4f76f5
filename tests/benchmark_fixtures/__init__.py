"""One fixture module per benchmark added after the first five (whose builders live in
``tests/fixtures_benchmarks.py``): ``BENCHMARK_ID`` and ``build(root: Path) -> Path``, writing a small
release under ``root/<benchmark folder>/`` in exactly the official layout. ``fixtures_benchmarks.BUILDERS``
collects them; a test fails when a registered benchmark has no fixture."""
