"""The benchmark data errors: every message is complete and meant for the user as is (no traceback)."""

from __future__ import annotations


class BenchmarkError(Exception):
    """Base of our data errors: the message is complete and meant for the user as is (no traceback)."""


class BenchmarkDataMissing(BenchmarkError, FileNotFoundError):
    """The benchmark's release is not under the data root (and no hub fallback worked)."""


class BenchmarkDataError(BenchmarkError, ValueError):
    """The release is there but a file or row is not what the benchmark publishes (names file and row)."""
