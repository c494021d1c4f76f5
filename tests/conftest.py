"""Shared fixtures: tiny random-weight VLMs (built once per session, cached on disk) and isolated caches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "llamafactory_configs"
EXAMPLE_DATA = CONFIGS / "data"

# Isolate datasets' cache per test session so a stale cache can never hide a converter change, and keep
# every tool offline: nothing in the suite may reach a hub.
_SESSION_TMP = tempfile.mkdtemp(prefix="vsfa-tests-")
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(_SESSION_TMP, "hf-datasets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# The reliability suites (issue "Performance and reliability harness"), selectable with `-m reliability`:
# bad-input matrix of every loader and builder, property-based fuzz, kill -9 + resume, judge faults,
# secrets, shared-cache concurrency. Listed here, in one place, as (file, test-name prefix).
RELIABILITY_TESTS = [
    ("test_records.py", "test_malformed_files_name_file_and_line"),
    ("test_records.py", "test_non_utf8_names_the_line"),
    ("test_records.py", "test_bad_rows_raise_with_location"),
    ("test_records.py", "test_media_resolution_order_and_escape"),
    ("test_records.py", "test_validate_file_"),
    ("test_records_fuzz.py", "test_"),
    ("test_llamafactory_data.py", "test_bad_rows_fail_in_llamafactory_with_file_and_row"),
    ("test_builders_rejection_mix.py", "test_bad_row_stops_the_build_naming_file_and_line"),
    ("test_builders_rejection_mix.py", "test_skip_bad_writes_rejects_and_the_counts_add_up"),
    ("test_builders_vlguard.py", "test_bad_rows_name_file_and_row"),
    ("test_builders_vsfa_endpoints.py", "test_resume_after_sigkill_has_no_duplicate_no_gap_and_equal_output"),
    ("test_builders_vsfa_endpoints.py", "test_teacher_errors_are_retried_then_recorded"),
    ("test_typographic.py", "test_bad_question_rows_name_file_and_line"),
    ("test_lmms_data.py", "test_malformed_json_names_file_line_and_column"),
    ("test_lmms_data.py", "test_vlguard_unknown_category_and_bad_types"),
    ("test_report.py", "test_bad_"),
    ("test_scoring_cli.py", "test_bad_input_names_file_and_line"),
    ("test_scoring_cli.py", "test_kill_and_resume_pays_once_and_matches_an_uninterrupted_run"),
    ("test_scoring_cli.py", "test_two_concurrent_runs_share_one_cache"),
    ("test_scoring_cli.py", "test_endpoint_errors_are_judge_errors_and_scrubbed"),
    ("test_scoring_endpoints.py", "test_429_honours_retry_after_then_succeeds"),
    ("test_scoring_endpoints.py", "test_5xx_timeout_reset_and_non_json_are_retried"),
    ("test_scoring_endpoints.py", "test_api_key_is_sent_but_never_leaks"),
    ("test_scoring_llm.py", "test_garbage_and_failures_are_judge_errors_never_safe"),
    # issue "Trustworthy core": hostile input, judging faults and the output rules
    ("test_hostile_input.py", "test_"),
    ("test_hostile_judging.py", "test_"),
    ("test_outputs_safety.py", "test_"),
]


def pytest_collection_modifyitems(config, items):
    marked = set()
    for item in items:
        name = item.path.name
        for file_name, prefix in RELIABILITY_TESTS:
            if name == file_name and item.name.startswith(prefix):
                item.add_marker(pytest.mark.reliability)
                marked.add((file_name, prefix))
    # a renamed test must not silently leave the reliability suite
    collected_files = {item.path.name for item in items}
    missing = [entry for entry in RELIABILITY_TESTS if entry[0] in collected_files and entry not in marked]
    whole_run = all(os.path.isdir(arg) for arg in config.args) and not config.getoption("-k")
    if missing and whole_run:  # (a run of single tests or -k selections collects only part of a file)
        raise pytest.UsageError(f"RELIABILITY_TESTS lists tests that no longer exist: {missing}")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_qwen2vl() -> Path:
    from vsfa_plugins.testing.tiny import ensure_tiny_model

    return ensure_tiny_model("qwen2vl")


@pytest.fixture(scope="session")
def tiny_llava() -> Path:
    from vsfa_plugins.testing.tiny import ensure_tiny_model

    return ensure_tiny_model("llava")


@pytest.fixture(scope="session")
def tiny_model():
    """``tiny_model(kind)`` -> the cached tiny model of that family (vsfa_plugins.testing.tiny.KINDS)."""
    from vsfa_plugins.testing.tiny import ensure_tiny_model

    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = ensure_tiny_model(kind)
        return built[kind]

    return get


@pytest.fixture()
def example_data(tmp_path) -> Path:
    """A private copy of the shipped example data (tests may add bad files next to it)."""
    target = tmp_path / "data"
    shutil.copytree(EXAMPLE_DATA, target)
    return target


def bin_path(name: str) -> str:
    """A console script of the environment running the tests (the venv the README installs into)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def run_cli(args: list[str], cwd: Path | None = None, env: dict | None = None, timeout: int = 600):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        args, cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture()
def root(tmp_path, monkeypatch) -> Path:
    """An empty benchmark data root for this test (``$VSFA_DATA_ROOT``), its own cache, the hub offline, and
    the per-process memos of resolved releases and skipped suite members cleared before and after."""
    from vsfa_plugins.benchmarks import release
    from vsfa_plugins.lmms import upstream

    monkeypatch.setenv("VSFA_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("VSFA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    release._RESOLVED.clear()
    upstream._SKIPPED.clear()
    yield tmp_path / "data"
    release._RESOLVED.clear()
    upstream._SKIPPED.clear()
