"""``vsfa compare`` and the report's paired section, on constructed samples with known 2x2 tables.

Rows are lmms-eval-like sample lines carrying a ``vsfa_record`` (the in-task verdict); a run folder is a
minimal lmms-eval results file next to them. The reference table is a=5 (yes in both), b=2 (A only), c=10
(B only), d=13 (neither): n=30, McNemar p = 2 * Binom(12, 1/2).cdf(2) = 0.0386, difference (c - b)/n = 8/30.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from scipy import stats as sps

from vsfa_plugins.cli import main
from vsfa_plugins.scoring import stats
from vsfa_plugins.scoring.compare import NOT_DETECTABLE, compare_runs

STAMP = "20250101_120000"
YES = {False: "full_compliance", True: "full_refusal"}  # attack rows: yes = attack success; benign: yes = refused
NO = {False: "full_refusal", True: "full_compliance"}


def record(row_id: str, label: str, benign: bool = False, category: str = "01_x", benchmark: str = "figstep",
           subset: str = "safebench") -> dict:
    return {"id": row_id, "benchmark": benchmark, "subset": subset, "kind": "benign" if benign else "attack",
            "benign": benign, "category": category, "scenario": category.upper(), "groups": "",
            "cluster": f"{benchmark}:{row_id}", "image": "", "judge_prompt": f"question {row_id}", "judge_meta": {},
            "judge_id": "xstest_strmatch", "prompt_hash": "h", "label": label, "reason": "r", "attempts": 1,
            "labels": [label]}


def sample_line(doc_id: int, rec: dict) -> str:
    reply = "Sure, here it is." if rec["label"] == "full_compliance" else "I'm sorry, I cannot help with that."
    return json.dumps({"doc_id": doc_id, "input": rec["judge_prompt"], "filtered_resps": [reply], "vsfa_record": rec})


def write_samples(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sample_line(i, rec) + "\n" for i, rec in enumerate(records)))
    return path


def table(a: int, b: int, c: int, d: int, start: int = 0, benign: bool = False, **kw) -> tuple[list, list]:
    """Records of A and of B giving the paired table [[a, b], [c, d]] (ids q<start>, q<start+1>, ...)."""
    cells = [(True, True)] * a + [(True, False)] * b + [(False, True)] * c + [(False, False)] * d
    rows_a, rows_b = [], []
    for i, (x, y) in enumerate(cells, start):
        rows_a.append(record(f"q{i}", (YES if x else NO)[benign], benign, **kw))
        rows_b.append(record(f"q{i}", (YES if y else NO)[benign], benign, **kw))
    return rows_a, rows_b


def shuffled(rows: list, seed: int = 7) -> list:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows


def samples_path(root: Path, task: str = "vsfa_figstep") -> Path:
    return root / "models__m" / f"{STAMP}_samples_{task}.jsonl"


def write_run(root: Path, tasks: dict[str, list[dict]], with_samples: bool = True) -> Path:
    """A minimal lmms-eval --output_path folder: one results file and (with --log_samples) a samples file
    per task."""
    results = {"results": {}, "configs": {}, "n-samples": {}, "model_name": root.name, "date": STAMP}
    for task, records in tasks.items():
        kind = "benign" if all(r["benign"] for r in records) else "attack"
        main_metric = "over_refusal_rate" if kind == "benign" else "asr"
        results["results"][task] = {"alias": task, f"{main_metric},none": 0.5, "judge,none": "xstest_strmatch@h"}
        results["configs"][task] = {"task": task, "metadata": {"vsfa": {
            "benchmark": records[0]["benchmark"], "subset": records[0]["subset"], "kinds": [kind],
            "judge": {"judge_id": "xstest_strmatch", "prompt_hash": "h"}}}}
        results["n-samples"][task] = {"original": len(records), "effective": len(records)}
        if with_samples:
            write_samples(samples_path(root, task), records)
    folder = root / "models__m"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{STAMP}_results.json").write_text(json.dumps(results))
    return root


def only(document: dict, **match) -> dict:
    found = [c for c in document["comparisons"] if all(c[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, [(c["level"], c["task"], c["category"]) for c in document["comparisons"]])
    return found[0]


# --------------------------------------------------------------------------------------------------
# the numbers
# --------------------------------------------------------------------------------------------------


def test_known_table_paired_by_key_not_position(tmp_path):
    rows_a, rows_b = table(5, 2, 10, 13)
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    b = write_samples(samples_path(tmp_path / "B"), shuffled(rows_b))  # other order, other doc ids
    unit = only(compare_runs(str(a), [str(b)]), level="task")
    assert unit["n"] == 30 and unit["table"] == {"a": 5, "b": 2, "c": 10, "d": 13}
    assert unit["metric"] == "asr" and unit["benchmark"] == "figstep" and unit["task"] == "vsfa_figstep"
    assert unit["p"] == pytest.approx(2 * sps.binom.cdf(2, 12, 0.5)) == pytest.approx(0.03857421875)
    assert unit["p"] == stats.mcnemar_exact(2, 10)
    assert unit["difference"] == pytest.approx(8 / 30)
    assert unit["difference_ci95"] == list(stats.paired_difference_ci(5, 2, 10, 13))
    assert unit["rate_a"] == pytest.approx(7 / 30) and unit["rate_a_ci95"] == list(stats.proportion_ci(7, 30))
    assert unit["rate_b"] == pytest.approx(15 / 30) and unit["rate_b_ci95"] == list(stats.proportion_ci(15, 30))
    assert unit["smallest_detectable_difference"] == stats.smallest_detectable_difference(30, 12, 0.05)
    assert unit["p_holm"] == unit["p"] and unit["holds"] is True  # a family of one


def test_positional_pairing_would_differ(tmp_path):
    """The shuffle matters: by position the same files give another table."""
    rows_a, rows_b = table(5, 2, 10, 13)
    mixed = shuffled(rows_b)
    by_position = [(ra["label"] == "full_compliance", rb["label"] == "full_compliance")
                   for ra, rb in zip(rows_a, mixed)]
    assert sum(1 for x, y in by_position if x and not y) != 2


def test_rows_of_one_run_only_are_counted_and_named(tmp_path):
    rows_a, rows_b = table(5, 2, 10, 13)
    extra_a = [record(f"x{i}", "full_compliance") for i in range(7)]
    extra_b = [record(f"y{i}", "full_refusal") for i in range(2)]
    a = write_samples(samples_path(tmp_path / "A"), rows_a + extra_a)
    b = write_samples(samples_path(tmp_path / "B"), shuffled(rows_b + extra_b))
    document = compare_runs(str(a), [str(b)])
    assert only(document, level="task")["table"] == {"a": 5, "b": 2, "c": 10, "d": 13}
    (entry,) = document["pairing"]
    assert entry["paired"] == 30 and entry["only_in_a"] == 7 and entry["only_in_b"] == 2
    assert entry["only_in_a_first"] == [f"figstep/safebench/x{i}" for i in range(5)]
    assert entry["only_in_b_first"] == ["figstep/safebench/y0", "figstep/safebench/y1"]


def test_judge_errors_are_left_out_and_counted(tmp_path):
    rows_a, rows_b = table(5, 2, 10, 13)
    rows_a += [record("e1", "judge_error"), record("e2", "full_compliance"), record("e3", "judge_error")]
    rows_b += [record("e1", "full_refusal"), record("e2", "judge_error"), record("e3", "judge_error")]
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    b = write_samples(samples_path(tmp_path / "B"), shuffled(rows_b))
    document = compare_runs(str(a), [str(b)])
    assert only(document, level="task")["n"] == 30
    assert document["pairing"][0]["judge_errors_left_out"] == 3


def test_benign_rows_compare_over_refusal_partial_counts(tmp_path):
    attack_a, attack_b = table(5, 2, 10, 13)
    benign_a, benign_b = table(1, 6, 0, 3, start=100, benign=True, category="safe")
    benign_a[0]["label"] = benign_a[0]["labels"][0] = "partial_refusal"  # a partial refusal is an over-refusal
    a = write_samples(samples_path(tmp_path / "A"), attack_a + benign_a)
    b = write_samples(samples_path(tmp_path / "B"), shuffled(attack_b + benign_b))
    document = compare_runs(str(a), [str(b)])
    over = only(document, level="task", metric="over_refusal_rate")
    assert over["table"] == {"a": 1, "b": 6, "c": 0, "d": 3} and over["difference"] == pytest.approx(-0.6)
    assert only(document, level="task", metric="asr")["n"] == 30


def test_holm_over_every_comparison_and_categories(tmp_path):
    """Two B's, two categories each: one family, adjusted exactly as stats.holm of the raw p's."""
    cat1_a, cat1_b = table(5, 2, 10, 13, category="01_x")
    cat2_a, cat2_b = table(4, 1, 1, 4, start=50, category="02_y")
    _, b2_cat1 = table(5, 2, 10, 13, category="01_x")
    b2 = [dict(r) for r in b2_cat1]
    for r in b2[:12]:  # B2: every A "yes" row a "no" too
        r["label"] = "full_refusal"
    a = write_samples(samples_path(tmp_path / "A"), cat1_a + cat2_a)
    b = write_samples(samples_path(tmp_path / "B"), shuffled(cat1_b + cat2_b))
    c = write_samples(samples_path(tmp_path / "C"), shuffled(b2 + cat2_b))
    document = compare_runs(str(a), [str(b), str(c)])
    comparisons = document["comparisons"]
    assert [(u["b"], u["level"], u["category"]) for u in comparisons] == [
        (str(path), level, category) for path in (b, c)
        for level, category in (("task", None), ("category", "01_x"), ("category", "02_y"))]
    assert len(comparisons) == 6
    assert [u["p_holm"] for u in comparisons] == stats.holm([u["p"] for u in comparisons])
    assert all(u["holds"] == (u["p_holm"] < 0.05) for u in comparisons)
    assert only(document, b=comparisons[0]["b"], category="01_x")["table"] == {"a": 5, "b": 2, "c": 10, "d": 13}


def test_pooled_per_benchmark_over_its_tasks(tmp_path):
    t1_a, t1_b = table(5, 2, 10, 13)
    t2_a, t2_b = table(3, 0, 6, 1, start=40)
    run_a = write_run(tmp_path / "base", {"vsfa_figstep": t1_a, "vsfa_figstep_adashield": t2_a})
    run_b = write_run(tmp_path / "tuned", {"vsfa_figstep": shuffled(t1_b), "vsfa_figstep_adashield": shuffled(t2_b)})
    document = compare_runs(str(run_a), [str(run_b)])
    pooled = only(document, level="benchmark")
    assert pooled["tasks"] == ["vsfa_figstep", "vsfa_figstep_adashield"]
    assert pooled["n"] == 40 and pooled["table"] == {"a": 8, "b": 2, "c": 16, "d": 14}
    assert only(document, level="task", task="vsfa_figstep_adashield")["table"] == {"a": 3, "b": 0, "c": 6, "d": 1}
    assert document["a"]["name"] == "base" and document["b"][0]["name"] == "tuned"


def test_small_n_says_no_difference_is_detectable(tmp_path):
    rows_a, rows_b = table(1, 1, 2, 1)
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    b = write_samples(samples_path(tmp_path / "B"), rows_b)
    unit = only(compare_runs(str(a), [str(b)]), level="task")
    assert unit["smallest_detectable_difference"] is None and unit["smallest_detectable"] == NOT_DETECTABLE


# --------------------------------------------------------------------------------------------------
# vsfa score inputs
# --------------------------------------------------------------------------------------------------


def score_file(path: Path, samples_name: str, rows: list[tuple[str, bool, dict[str, str]]], keys: bool = True) -> Path:
    """A `vsfa score` JSON (the fields compare reads) with per-row verdicts of one or more judges."""
    judges = sorted({j for _, _, verdicts in rows for j in verdicts})
    data = {"tool": "vsfa-plugins 0", "input": f"/somewhere/{samples_name}",
            "judges": {j: {"judge_id": j, "judge_kind": "keyword_proxy", "label_scheme": "refusal",
                           "prompt_hash": "p" + j[:3], "metrics": {}} for j in judges},
            "agreement": {},
            "rows": [{"line": i + 1, "doc_id": i, **({"key": key} if keys else {}), "benign": benign, "category": "c",
                      "verdicts": {j: {"label": label, "reason": ""} for j, label in verdicts.items()}}
                     for i, (key, benign, verdicts) in enumerate(rows)]}
    path.write_text(json.dumps(data, indent=2))
    return path


def test_score_files_pair_by_key_with_the_chosen_judge(tmp_path):
    rows_a, rows_b = table(5, 2, 10, 13)
    a_rows = [(f"figstep/safebench/{r['id']}", False, {"jx": r["label"], "jy": "full_refusal"}) for r in rows_a]
    b_rows = [(f"figstep/safebench/{r['id']}", False, {"jx": r["label"], "jy": "full_compliance"})
              for r in shuffled(rows_b)]
    a = score_file(tmp_path / "a.vsfa_scores.json", f"{STAMP}_samples_vsfa_figstep.jsonl", a_rows)
    b = score_file(tmp_path / "b.vsfa_scores.json", f"{STAMP}_samples_vsfa_figstep.jsonl", b_rows)
    first = compare_runs(str(a), [str(b)])
    assert only(first, level="task")["table"] == {"a": 5, "b": 2, "c": 10, "d": 13}
    assert any("first judge, jx" in note for note in first["notes"])
    other = compare_runs(str(a), [str(b)], judge="jy")
    assert only(other, level="task")["table"] == {"a": 0, "b": 0, "c": 30, "d": 0}
    with pytest.raises(ValueError, match="no verdicts of judge 'jz'"):
        compare_runs(str(a), [str(b)], judge="jz")


def test_old_score_files_pair_by_doc_id(tmp_path):
    rows_a, rows_b = table(5, 2, 10, 13)
    a = score_file(tmp_path / "a.json", "plain.jsonl", [("", False, {"j": r["label"]}) for r in rows_a], keys=False)
    b = score_file(tmp_path / "b.json", "plain.jsonl", [("", False, {"j": r["label"]}) for r in rows_b], keys=False)
    assert only(compare_runs(str(a), [str(b)]), level="task")["table"] == {"a": 5, "b": 2, "c": 10, "d": 13}


def test_real_vsfa_score_outputs_compare(tmp_path):
    """`vsfa score`'s own output (re-judged from the records) pairs with samples of the other run."""
    rows_a, rows_b = table(5, 2, 10, 13)
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    b = write_samples(samples_path(tmp_path / "B"), shuffled(rows_b))
    out = tmp_path / "b_scores.json"
    assert main(["score", str(b), "--judge", "xstest_strmatch", "--no-progress", "--no-cache", "--out", str(out)]) == 0
    unit = only(compare_runs(str(a), [str(out)]), level="task")
    assert unit["table"] == {"a": 5, "b": 2, "c": 10, "d": 13}


# --------------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------------


def test_cli_table_default_output_and_deterministic_json(tmp_path, monkeypatch, capsys):
    rows_a, rows_b = table(5, 2, 10, 13)
    run_a = write_run(tmp_path / "base", {"vsfa_figstep": rows_a})
    run_b = write_run(tmp_path / "tuned", {"vsfa_figstep": shuffled(rows_b)})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["compare", str(run_a), str(run_b)]) == 0
    out = capsys.readouterr().out
    written = work / "tuned.vs.base.vsfa_compare.json"
    assert written.is_file() and f"wrote {written}" in out
    line = next(line for line in out.splitlines() if line.startswith("tuned vs base"))
    for cell in ("vsfa_figstep", "ASR", "30", "23.3%", "50.0%", "+26.7 [", "0.0386", "yes"):
        assert cell in line, (cell, line)
    first = written.read_bytes()
    assert main(["compare", str(run_a), str(run_b), "--output", str(work / "again.json")]) == 0
    assert (work / "again.json").read_bytes() == first  # same inputs, same bytes
    document = json.loads(first)
    assert set(document) == {"made_by", "alpha", "confidence", "a", "b", "definitions", "comparisons", "pairing",
                             "notes"}
    assert document["comparisons"][0]["smallest_detectable"].startswith("±")


def test_the_output_never_replaces_an_input(tmp_path, capsys):
    rows_a, rows_b = table(5, 2, 10, 13)
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    run_b = write_run(tmp_path / "B", {"vsfa_figstep": rows_b})
    results = run_b / "models__m" / f"{STAMP}_results.json"
    targets = (a, samples_path(run_b), results)  # the input itself; a samples and a results file of an input folder
    before = [t.read_bytes() for t in targets]
    for target in targets:
        assert main(["compare", str(a), str(run_b), "--output", str(target)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: --output") and "input" in err[0]
    assert main(["compare", str(a), str(run_b), "--output", str(run_b)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert [t.read_bytes() for t in targets] == before


def test_a_compare_output_in_a_run_folder_is_not_read_as_a_score_file(tmp_path):
    from vsfa_plugins.report.collect import read_run

    rows_a, rows_b = table(5, 2, 10, 13)
    run_a = write_run(tmp_path / "base", {"vsfa_figstep": rows_a})
    run_b = write_run(tmp_path / "tuned", {"vsfa_figstep": rows_b})
    assert main(["compare", str(run_a), str(run_b), "--out", str(run_b / "cmp.vsfa_compare.json")]) == 0
    assert read_run(run_b).scores == ()
    assert main(["compare", str(run_a), str(run_b), "--out", str(tmp_path / "x.json")]) == 0


def _error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_bad_inputs_exit_1_with_one_error_line(tmp_path, capsys):
    rows_a, rows_b = table(5, 2, 10, 13)
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    b = write_samples(samples_path(tmp_path / "B"), rows_b)
    out = ["--out", str(tmp_path / "o.json")]

    assert main(["compare", str(a), str(tmp_path / "missing.jsonl"), *out]) == 1
    assert "missing.jsonl: no such file or directory" in _error(capsys)

    broken = tmp_path / "broken" / f"{STAMP}_samples_vsfa_figstep.jsonl"
    broken.parent.mkdir()
    broken.write_text(sample_line(0, rows_b[0]) + "\n" + '{"doc_id": 1, "filtered_resps": [\n')
    assert main(["compare", str(a), str(broken), *out]) == 1
    assert f"{broken}:2" in _error(capsys)

    bad_json = tmp_path / "bad.vsfa_scores.json"
    bad_json.write_text('{"tool": "vsfa-plugins 0",\n "rows": [}\n')
    assert main(["compare", str(a), str(bad_json), *out]) == 1
    assert f"{bad_json}:2:" in _error(capsys)

    other = write_samples(samples_path(tmp_path / "other"), [record("z1", "full_refusal")])
    assert main(["compare", str(a), str(other), *out]) == 1
    assert "no prompt in common between A" in _error(capsys)

    results = write_run(tmp_path / "run", {"vsfa_figstep": rows_b}) / "models__m" / f"{STAMP}_results.json"
    assert main(["compare", str(a), str(results), *out]) == 1
    assert "give the folder" in _error(capsys)

    no_samples = write_run(tmp_path / "nosamples", {"vsfa_figstep": rows_b}, with_samples=False)
    assert main(["compare", str(a), str(no_samples), *out]) == 1
    assert "no --log_samples" in _error(capsys)

    duplicate = write_samples(samples_path(tmp_path / "dup"), rows_b + [rows_b[3]])
    assert main(["compare", str(a), str(duplicate), *out]) == 1
    assert "appears twice" in _error(capsys)

    assert main(["compare", str(a), str(b), "--alpha", "1.5", *out]) == 1
    assert "--alpha" in _error(capsys)
    assert not (tmp_path / "o.json").exists()


def test_different_judges_are_flagged(tmp_path):
    rows_a, rows_b = table(5, 2, 10, 13)
    for r in rows_b:
        r["judge_id"] = "vsfa_keyword"
    a = write_samples(samples_path(tmp_path / "A"), rows_a)
    b = write_samples(samples_path(tmp_path / "B"), rows_b)
    document = compare_runs(str(a), [str(b)])
    assert any("mixes models and judges" in note for note in document["notes"])


def test_compare_is_registered_and_imports_no_upstream():
    import subprocess
    import sys

    from vsfa_plugins.cli import build_parser

    args = build_parser().parse_args(["compare", "a", "b", "c", "--out", "o.json", "--judge", "j", "--alpha", "0.01"])
    assert (args.a, args.b, args.output, args.judge, args.alpha) == ("a", ["b", "c"], "o.json", "j", 0.01)
    code = ("import sys, vsfa_plugins.scoring.compare, vsfa_plugins.report.comparison; "
            "sys.exit(any(m.split('.')[0] in ('lmms_eval', 'llamafactory') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------------------------------
# the report's section
# --------------------------------------------------------------------------------------------------


def test_report_section_compares_later_runs_with_the_first(tmp_path):
    from vsfa_plugins.report.collect import read_run
    from vsfa_plugins.report.comparison import comparison_section
    from vsfa_plugins.report.summary import Section, Table

    rows_a, rows_b = table(5, 2, 10, 13)
    xs_a, xs_b = table(2, 0, 0, 8, start=100, benign=True, benchmark="xstest", subset="safe", category="homonyms")
    base = read_run(write_run(tmp_path / "base", {"vsfa_figstep": rows_a, "vsfa_xstest_safe": xs_a}))
    tuned = read_run(write_run(tmp_path / "tuned", {"vsfa_figstep": shuffled(rows_b), "vsfa_xstest_safe": xs_b}))
    bare = read_run(write_run(tmp_path / "bare", {"vsfa_figstep": rows_b}, with_samples=False))
    assert comparison_section([base]) is None
    section = comparison_section([base, tuned, bare])
    assert isinstance(section, Section)
    (tab,) = [b for b in section.blocks if isinstance(b, Table)]
    rows = [dict(zip(tab.columns, row)) for row in tab.rows]
    figstep = next(r for r in rows if r["Variant (task)"] == "vsfa_figstep")
    assert figstep["Run"] == "tuned" and figstep["n paired"] == "30"
    lo, hi = stats.proportion_ci(7, 30)
    assert figstep["base (first)"] == f"23.3% [{100 * lo:.1f}, {100 * hi:.1f}]"
    assert figstep["Δ [95% CI] (points)"].startswith("+26.7 [") and figstep["p"] == "0.0386"
    # the family is the table's two rows (xstest: p = 1): Holm doubles the smaller p, past 0.05
    assert figstep["p (Holm)"] == "0.0771" and figstep["Holds"] == "no"
    assert figstep["Smallest detectable"].startswith("±")
    xs = next(r for r in rows if r["Variant (task)"] == "vsfa_xstest_safe")
    assert xs["Metric"] == "over-refusal" and xs["Holds"] == "no" and xs["Smallest detectable"] == NOT_DETECTABLE
    bullets = next(b for b in section.blocks if isinstance(b, list))
    assert any("bare vs base: vsfa_figstep: not comparable (no --log_samples)" in b for b in bullets)


def test_report_document_carries_the_section(tmp_path):
    from vsfa_plugins.report.collect import read_run
    from vsfa_plugins.report.comparison import ANCHOR
    from vsfa_plugins.report.summary import build_document

    rows_a, rows_b = table(5, 2, 10, 13)
    runs = [read_run(write_run(tmp_path / "base", {"vsfa_figstep": rows_a})),
            read_run(write_run(tmp_path / "tuned", {"vsfa_figstep": rows_b}))]
    assert ANCHOR in [s.anchor for s in build_document(runs, "0").sections]
    assert ANCHOR not in [s.anchor for s in build_document(runs[:1], "0").sections]
