"""``vsfa data sample`` / ``vsfa data list``: a synthetic copy of every benchmark in its official layout that
its own loader reads, and never a write into a real release or outside ``--root``."""

from __future__ import annotations

import pytest

from vsfa_plugins.benchmarks import benchmarks, release
from vsfa_plugins.cli import main


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VSFA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VSFA_DATA_ROOT", str(tmp_path / "elsewhere"))
    release._RESOLVED.clear()
    yield
    release._RESOLVED.clear()


def test_sample_writes_every_benchmark_and_each_loader_reads_it(tmp_path, capsys, monkeypatch):
    from vsfa_plugins.benchmarks import load_rows

    root = tmp_path / "samples"
    assert main(["data", "sample", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    for benchmark_id, benchmark in benchmarks().items():
        folder = root / benchmark_id
        assert (folder / release.SYNTHETIC_MARKER).is_file(), benchmark_id
        assert f"{benchmark_id}: wrote a synthetic sample" in out
        monkeypatch.setenv("VSFA_DATA_ROOT", str(root))
        release._RESOLVED.clear()
        for subset in benchmark.subsets:
            assert load_rows(benchmark_id, subset, {}, task="t")[2], (benchmark_id, subset)
    assert not (tmp_path / "elsewhere").exists()  # nothing outside --root
    assert main(["data", "list", "--root", str(root)]) == 0
    listing = capsys.readouterr().out
    assert all(f"{b:<16} found (SYNTHETIC sample)" in listing for b in benchmarks())


def test_sample_is_deterministic_and_leaves_an_existing_sample_alone(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["data", "sample", "--root", str(first), "xstest", "figstep"]) == 0
    assert main(["data", "sample", "--root", str(second), "xstest", "figstep"]) == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files and all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    capsys.readouterr()
    (first / "xstest" / "extra.txt").write_text("mine")
    assert main(["data", "sample", "--root", str(first), "xstest"]) == 0
    assert "already in" in capsys.readouterr().out and (first / "xstest" / "extra.txt").exists()
    assert main(["data", "sample", "--root", str(first), "xstest", "--force"]) == 0
    assert not (first / "xstest" / "extra.txt").exists()


def test_sample_never_writes_into_a_real_release_or_through_a_link(tmp_path, capsys):
    root = tmp_path / "data"
    real = root / "xstest"
    real.mkdir(parents=True)
    (real / "xstest_prompts.csv").write_text("a lab's real file\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "figstep").symlink_to(outside)
    assert main(["data", "sample", "--root", str(root), "xstest", "figstep", "vlguard"]) == 1
    err = capsys.readouterr().err
    assert f"{real} holds data that is not a synthetic sample" in err and "refusing" in err
    assert f"{root / 'figstep'}: a link or a file" in err and "Traceback" not in err
    assert (real / "xstest_prompts.csv").read_text() == "a lab's real file\n" and not any(outside.iterdir())
    assert (root / "vlguard" / release.SYNTHETIC_MARKER).is_file()  # the others are still written


def test_unknown_benchmark_and_a_missing_release(tmp_path, capsys):
    assert main(["data", "sample", "--root", str(tmp_path / "x"), "nope"]) == 1
    assert "unknown benchmark(s) nope; known: " in capsys.readouterr().err
    assert main(["data", "list", "--root", str(tmp_path / "empty")]) == 0
    assert "absent (expected " in capsys.readouterr().out
