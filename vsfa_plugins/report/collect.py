"""Reading one evaluation run: lmms-eval results + samples and ``vsfa score`` outputs, into plain records.

A run directory is an lmms-eval ``--output_path`` folder (or any folder above or below one). lmms-eval
0.7.3 (``EvaluationTracker``) writes, per invocation, into ``<output_path>/<model_name_sanitized>/``:

* ``<date_id>_results.json`` — ``results`` (per task and group: ``"<metric>,<filter>"`` values),
  ``configs`` (one per *leaf* task; ours carry ``metadata.vsfa``), ``n-samples``, ``higher_is_better``,
  ``model_name``, ``date``, ...
* ``<date_id>_samples_<task>.jsonl`` (with ``--log_samples``) — one line per doc; our tasks put one metric
  dict per line holding ``category`` / ``scenario`` / ``value`` / ``judge_id`` / ``prompt_hash``.

``date_id`` is the run's start time (``%Y%m%d_%H%M%S`` in 0.7.3). The whole tree under a run directory is
searched. When several results files hold the same task (re-runs into the same ``--output_path``), the
**newest per task** wins — newest by ``date_id`` (its digits, so older ISO-style stamps compare too), then
by path — and the samples file with that same ``date_id`` is its samples. File times are never used: a
copied folder gives the same report.

``vsfa score`` outputs are recognised by their content (a JSON object whose first key is
``"tool": "vsfa-plugins …"``; the default name ends in ``.vsfa_scores.json``, and a file with that name must
be one). A score file of an lmms-eval samples file belongs to that task; it is used when its samples file's
``date_id`` is the one chosen for the task (else it is listed as ignored). Scores of plain JSONL are always
used, named after their input file.

Anything unreadable or not shaped as expected raises :class:`ReportInputError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scoring import contract
from ..scoring.contract import ATTACK, BENIGN, MAIN_METRIC, SCORES_SUFFIX

#: the default name ``vsfa score`` gives its output (kept in sync by a test)
# The stamp starts with the run's date (0.7.3: 20250101_120000; older: 2025-01-01T12-00-00...): stock tasks
# write side files of their own under the same --output_path that end alike, e.g. mmbench_en_dev_static's
# submissions/mmbench_en_dev_static_results.json (lmms_eval/tasks/mmbench/en_utils.py,
# generate_submission_file), and those are not lmms-eval results files.
RESULTS_RE = re.compile(r"^(?P<stamp>\d{4}.*)_results\.json$")
# date_id never contains "_samples_", so the first occurrence splits stamp and task
SAMPLES_RE = re.compile(r"^(?P<stamp>.+?)_samples_(?P<task>.+)\.jsonl$")
# how a vsfa score file starts (scoring/cli.py writes "tool" first, indent 2); read from the first bytes only
_SCORES_HEAD = re.compile(rb'^\s*\{\s*"tool"\s*:\s*"vsfa-plugins')



def prose(name: object) -> str:
    """A name (run, task, file, judge) for the report's prose, where backticks mark code: its own
    backticks become look-alike ``\u02cb`` so a name can never open or close a code span. Every other
    character is escaped by the renderers (HTML and Markdown alike); tables show names exactly."""
    return str(name).replace("`", "\u02cb")


class ReportInputError(Exception):
    """An input is missing or not what lmms-eval / ``vsfa score`` writes; the message names the file."""


# --------------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judge:
    """What judged a number: id, kind (keyword_proxy / llm / local), label scheme, rule/prompt hash."""

    judge_id: str
    kind: str = ""
    scheme: str = ""
    prompt_hash: str = ""
    source: str = ""

    @property
    def tag(self) -> str:
        return f"{self.judge_id}@{self.prompt_hash or 'nohash'}"


@dataclass(frozen=True)
class Category:
    slug: str  # as in the metric name ``asr__<slug>``
    name: str  # the benchmark's own label (from the samples' ``scenario``), else the slug
    value: float | None
    n: int | None  # rows of this category (from the samples file; None without one)
    unjudged: int | None = None
    ci: tuple[float, float] | None = None  # 95 % interval of ``value`` (lmms-eval's <metric>_ci95_low/high)


@dataclass(frozen=True)
class SafetyTask:
    """One of our ``vsfa_*`` leaf tasks in one run."""

    task: str
    benchmark: str
    benchmark_title: str
    subset: str
    protocol: str
    defense: str
    kind: str  # ATTACK | BENIGN
    value: float | None  # asr (attack) or over_refusal_rate (benign); None when nothing was judged
    judge_error_rate: float | None
    n: int | None  # docs evaluated (n-samples "effective")
    judge: Judge
    asr_definition: Mapping[str, Any]
    categories: tuple[Category, ...]
    results_file: str  # relative to the run directory
    samples_file: str | None
    #: the integer counts of ``value`` as the task summed them (``asr_hits`` / ``attack_judged``, …); None
    #: for results written before tasks emitted counts
    hits: int | None = None
    judged_count: int | None = None
    ci: tuple[float, float] | None = None  # 95 % interval of ``value``
    records: tuple[Mapping[str, Any], ...] = ()  # the per-answer records of the samples file, when it has them

    @property
    def metric(self) -> str:
        return MAIN_METRIC[self.kind]

    @property
    def judged(self) -> int | None:
        """Rows with a verdict: the denominator of ``value`` (judge errors are left out of every rate)."""
        if self.judged_count is not None:
            return self.judged_count
        if self.n is None:
            return None
        return round(self.n * (1 - (self.judge_error_rate or 0.0)))

    @property
    def hit_count(self) -> int | None:
        """The numerator of ``value``: the task's own count, else (older results) rebuilt from the rate."""
        if self.hits is not None:
            return self.hits
        if self.value is None or not self.judged:
            return None
        return round(self.value * self.judged)


@dataclass(frozen=True)
class CapabilityMetric:
    """A numeric metric of a task that is not ours (MME, MMBench, MM-Vet, ... in the same results)."""

    task: str
    metric: str
    filter: str
    value: float
    higher_is_better: bool | None
    n: int | None
    results_file: str


@dataclass(frozen=True)
class JudgeScore:
    judge: Judge
    n: int
    n_attack: int
    n_benign: int
    judge_errors: int
    asr: float | None
    over_refusal_rate: float | None
    mean_score: float | None  # VSFA's constructive score when the judge gives one
    scores: tuple[float, ...]  # the per-row scores, for pooling over a run
    asr_ci: tuple[float, float] | None = None  # 95 % intervals, when the score file has them
    over_refusal_ci: tuple[float, float] | None = None
    in_task: bool = False  # the task's own judge, as `vsfa score` recorded it beside the re-judged ones


@dataclass(frozen=True)
class Agreement:
    first: str
    second: str
    n_compared: int
    kappa_labels: float | None
    kappa_attack_success: float | None
    raw_agreement: float | None


@dataclass(frozen=True)
class ScoreFile:
    path: str  # relative to the run directory
    input_name: str  # basename of the file that was scored
    task: str | None  # the lmms-eval task, when the input is an lmms-eval samples file
    stamp: str | None  # and the date_id of that samples file
    judges: tuple[JudgeScore, ...]
    agreements: tuple[Agreement, ...]

    @property
    def label(self) -> str:
        return self.task or self.input_name


@dataclass
class Run:
    name: str
    directory: str  # as given on the command line
    model_names: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    results_files: tuple[str, ...] = ()  # the ones at least one task was taken from
    safety: tuple[SafetyTask, ...] = ()
    capability: tuple[CapabilityMetric, ...] = ()
    scores: tuple[ScoreFile, ...] = ()
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# reading a run
# --------------------------------------------------------------------------------------------------


def read_run(directory: str | os.PathLike, name: str | None = None) -> Run:
    """Everything ``vsfa report`` shows about one run directory."""
    given = os.fspath(directory)
    root = Path(given)
    if not root.is_dir():
        raise ReportInputError(f"{given}: no such directory")
    run = Run(name=name or root.resolve().name, directory=given)
    results_paths, samples_paths, json_paths = _discover(root)
    score_paths = [p for p in json_paths if _is_score_file(p)]
    if not results_paths and not score_paths:
        raise ReportInputError(
            f"{given}: no lmms-eval results (<date>_results.json, written with --output_path) and no "
            f"`vsfa score` outputs (*{SCORES_SUFFIX}) found in this directory or below"
        )

    chosen = _newest_per_task(root, results_paths)  # task -> (stamp, path, results dict)
    models, dates, used = set(), set(), set()
    safety, capability = [], []
    for task in sorted(chosen):
        stamp, path, results = chosen[task]
        rel = _rel(path, root)
        used.add(rel)
        models.add(str(results.get("model_name") or _obj(results.get("config")).get("model") or ""))
        if results.get("date"):
            dates.add(str(results["date"]))
        samples = path.parent / f"{stamp}_samples_{task}.jsonl"
        samples = samples if samples in samples_paths else None
        config = results["configs"][task]
        vsfa = _obj(config.get("metadata")).get("vsfa")  # stock tasks' metadata may even be a list
        if vsfa is not None:
            found = _safety_task(task, results, vsfa, rel, samples, root, run)
            if found is not None:
                safety.append(found)
        else:
            capability.extend(_capability_metrics(task, results, rel))
    superseded = sorted({_rel(p, root) for p in results_paths} - used)
    if superseded:
        run.notes.append(f"{prose(run.name)}: newer results replace every task of {prose(', '.join(superseded))}")
    models.discard("")
    if len(models) > 1:
        run.notes.append(f"{prose(run.name)}: results of several models in one run directory "
                         f"({prose(', '.join(sorted(models)))}); "
                         "the newest results per task are used")
    run.model_names, run.dates = tuple(sorted(models)), tuple(sorted(dates))
    run.results_files = tuple(sorted(used))
    run.safety = tuple(sorted(safety, key=lambda t: (t.benchmark, t.task)))
    run.capability = tuple(sorted(capability, key=lambda m: (m.task, m.metric, m.filter)))
    run.scores = tuple(_select_scores(root, score_paths, chosen, run))
    return run


def _discover(root: Path) -> tuple[list[Path], set[Path], list[Path]]:
    results, samples, other_json = [], set(), []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files include half-written ".tmp-*" files of atomic writers
        if RESULTS_RE.match(path.name):
            results.append(path)
        elif SAMPLES_RE.match(path.name):
            samples.add(path)
        elif path.suffix == ".json":
            other_json.append(path)
    return results, samples, other_json


def _stamp_key(stamp: str, rel: str) -> tuple:
    # 0.7.3 writes 20250101_120000; older versions an ISO time with ":" -> "-". Their digits order alike.
    return ("".join(ch for ch in stamp if ch.isdigit())[:14].ljust(14, "0"), stamp, rel)


def _newest_per_task(root: Path, paths: list[Path]) -> dict[str, tuple[str, Path, dict]]:
    loaded = []
    for path in paths:
        stamp = RESULTS_RE.match(path.name)["stamp"]
        loaded.append((_stamp_key(stamp, _rel(path, root)), stamp, path, _read_results(path)))
    chosen: dict[str, tuple[str, Path, dict]] = {}
    for _, stamp, path, results in sorted(loaded, key=lambda item: item[0]):
        for task in results["configs"]:
            chosen[task] = (stamp, path, results)  # later (newer) files overwrite
    return chosen


def _read_results(path: Path) -> dict:
    data = load_json_object(path)
    for key in ("results", "configs"):
        if not isinstance(data.get(key), dict):
            raise ReportInputError(f"{path}: not an lmms-eval results file (no {key!r} object)")
    for task, config in data["configs"].items():
        if not isinstance(config, dict):
            raise ReportInputError(f"{path}: configs.{task} is not an object")
        if not isinstance(data["results"].get(task), dict):
            raise ReportInputError(f"{path}: task {task!r} has a config but no results")
    return data


def _safety_task(task: str, results: dict, vsfa: Any, rel: str, samples: Path | None, root: Path,
                 run: Run) -> SafetyTask | None:
    where = f"{rel}: configs.{task}.metadata.vsfa"
    if not isinstance(vsfa, dict):
        raise ReportInputError(f"{where} is not an object")
    values = _metric_values(results["results"][task])
    kinds = vsfa.get("kinds") or []
    kind = kinds[0] if len(kinds) == 1 and kinds[0] in MAIN_METRIC else (ATTACK if "asr" in values else BENIGN)
    main = MAIN_METRIC[kind]
    if main not in values:
        # e.g. lmms-eval --predict_only: responses without metrics. Not an error; say why the task is absent
        run.notes.append(f"{prose(run.name)}: {prose(task)}: {prose(rel)} holds no {main!r} value (an lmms-eval "
                         "--predict_only run? judge its samples with `vsfa score`); left out")
        return None
    judge = _judge_from_task(vsfa.get("judge"), values.get("judge"), where)
    n = _n_samples(results, task)
    prefix = f"{main}__"
    found = {key[len(prefix):]: _number(value) for key, value in values.items()
             if key.startswith(prefix) and not key.endswith((contract.CI_LOW_SUFFIX, contract.CI_HIGH_SUFFIX))}
    per_category = _read_samples(samples, main, root) if samples else None
    if samples is None:
        run.notes.append(f"{prose(run.name)}: {prose(task)}: no samples file next to {prose(rel)} (run lmms-eval "
                         "with --log_samples) — no per-category counts")
    elif n is not None and per_category[1] != n:
        run.notes.append(f"{prose(run.name)}: {prose(task)}: {prose(_rel(samples, root))} has {per_category[1]} "
                         f"lines but the results count {n} docs (an appended re-run with the same date?)")
    categories = []
    for slug in sorted(found):
        name, count, unjudged = (per_category[0].get(slug) if per_category else None) or (slug, None, None)
        categories.append(Category(slug, name, found[slug], count, unjudged, _ci(values, f"{prefix}{slug}")))
    numerator, denominator = contract.RATE_COUNTS[main]
    return SafetyTask(
        task=task,
        benchmark=str(vsfa.get("benchmark", "")),
        benchmark_title=str(vsfa.get("title") or vsfa.get("benchmark", "")),
        subset=str(vsfa.get("subset", "")),
        protocol=str(vsfa.get("protocol", "")),
        defense=str(vsfa.get("defense", "")),
        kind=kind,
        value=_number(values[main]),
        judge_error_rate=_number(values.get("judge_error_rate")),
        n=n,
        judge=judge,
        asr_definition=vsfa.get("asr_definition") if isinstance(vsfa.get("asr_definition"), dict) else {},
        categories=tuple(categories),
        results_file=rel,
        samples_file=_rel(samples, root) if samples else None,
        hits=_integer(values.get(numerator)),
        judged_count=_integer(values.get(denominator)),
        ci=_ci(values, main),
        records=per_category[2] if per_category else (),
    )


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None or number != int(number) else int(number)


def _ci(values: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    low_key, high_key = contract.ci_keys(metric)
    low, high = _number(values.get(low_key)), _number(values.get(high_key))
    return None if low is None or high is None else (low, high)


def _judge_from_task(info: Any, tag: Any, where: str) -> Judge:
    """The judge as the task's metadata records it; the aggregated ``judge`` metric ("id@hash") as fallback."""
    if isinstance(info, dict) and info.get("judge_id"):
        return Judge(str(info["judge_id"]), str(info.get("judge_kind", "")), str(info.get("label_scheme", "")),
                     str(info.get("prompt_hash", "")), str(info.get("source", "")))
    if isinstance(tag, str) and tag:
        judge_id, _, prompt_hash = tag.partition("@")
        return Judge(judge_id, prompt_hash="" if prompt_hash == "nohash" else prompt_hash)
    raise ReportInputError(f"{where}: no judge recorded (metadata.vsfa.judge or the 'judge' metric)")


def _read_samples(path: Path, main: str, root: Path) -> tuple[dict[str, tuple[str, int, int]], int, tuple]:
    """Per category slug: (published name, rows, unjudged rows); the number of lines; the per-answer records
    (``vsfa_record``) when the file has them."""
    from ..records import RecordError
    from ..records.reader import iter_json_rows

    found: dict[str, list] = {}
    records: list[dict] = []
    lines = 0
    try:
        for location, obj in iter_json_rows(path):
            lines += 1
            where = f"{_rel(path, root)}:{location.line}"
            if not isinstance(obj, dict):
                raise ReportInputError(f"{where}: expected a JSON object per line (an lmms-eval sample)")
            record = obj.get(contract.SAMPLE_RECORD)
            if record is not None:
                if not isinstance(record, dict) or not isinstance(record.get("label"), str) \
                        or not isinstance(record.get("benign"), bool):
                    raise ReportInputError(f"{where}: {contract.SAMPLE_RECORD!r} is not a record of vsfa-plugins")
                records.append(record)
                slug = record.get("category")
                if slug:
                    entry = found.setdefault(str(slug), [str(record.get("scenario") or slug), 0, 0])
                    entry[1] += 1
                    entry[2] += record["label"] == "judge_error"
                continue
            metric = obj.get(main)
            if metric is None:
                continue  # an lmms-eval sample without our metric (e.g. a failed doc): nothing to count
            if not isinstance(metric, dict):
                raise ReportInputError(f"{where}: {main!r} is not a metric dict of vsfa-plugins")
            slug = metric.get("category")
            if not slug:
                continue
            entry = found.setdefault(str(slug), [str(metric.get("scenario") or slug), 0, 0])
            entry[1] += 1
            entry[2] += metric.get("value") is None
    except RecordError as err:
        raise ReportInputError(str(err)) from None
    return ({slug: (name, count, unjudged) for slug, (name, count, unjudged) in found.items()}, lines,
            tuple(records))


def _capability_metrics(task: str, results: dict, rel: str) -> list[CapabilityMetric]:
    higher = _obj(_obj(results.get("higher_is_better")).get(task))
    out = []
    for key, value in results["results"][task].items():
        metric, _, filt = key.partition(",")
        number = _number(value)
        if not filt or "_stderr" in metric or number is None:
            continue  # alias, stderr entries, "N/A" and strings
        hib = higher.get(metric)
        out.append(CapabilityMetric(task, metric, filt, number, hib if isinstance(hib, bool) else None,
                                    _n_samples(results, task), rel))
    return out


def _metric_values(task_results: Mapping[str, Any]) -> dict[str, Any]:
    """``{"asr": 0.5, ...}`` from lmms-eval's ``{"asr,none": 0.5, "asr_stderr,none": "N/A", ...}``."""
    out = {}
    for key, value in task_results.items():
        metric, _, filt = key.partition(",")
        if filt == "none" and "_stderr" not in metric:
            out[metric] = value
    return out


def _n_samples(results: dict, task: str) -> int | None:
    value = _obj(_obj(results.get("n-samples")).get(task)).get("effective")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------------------------------
# vsfa score outputs
# --------------------------------------------------------------------------------------------------


def _is_score_file(path: Path) -> bool:
    if path.name.endswith(SCORES_SUFFIX):
        return True  # must then be one: read_score_file fails loudly if it is not
    try:
        with open(path, "rb") as handle:
            return bool(_SCORES_HEAD.match(handle.read(256)))
    except OSError as err:
        raise ReportInputError(f"{path}: cannot read ({err.strerror or err})") from None


def _select_scores(root: Path, paths: list[Path], chosen: dict, run: Run) -> list[ScoreFile]:
    files = [read_score_file(path, _rel(path, root)) for path in paths]
    # Per task, the samples date_id whose scores count: the one its results were taken from; for a task
    # without results in this run, the newest one scored (files sorted oldest first: the newest overwrites).
    wanted = {task: stamp for task, (stamp, _, _) in chosen.items()}
    for score in sorted(files, key=lambda s: _stamp_key(s.stamp or "", s.path)):
        if score.task and score.task not in chosen:
            wanted[score.task] = score.stamp
    kept, seen = [], {}
    for score in files:
        if score.task and score.stamp != wanted[score.task]:
            run.notes.append(f"{prose(run.name)}: {prose(score.path)} scores {prose(score.input_name)}, not the newest "
                             f"samples of {prose(score.task)}; ignored")
            continue
        # the same judge twice on the same input would count its rows twice in the pooled CS
        # (the in-task judge, recorded in every score file of the samples, is not a re-judgement)
        repeated = [j.judge.judge_id for j in score.judges
                    if not j.in_task and (score.input_name, j.judge.judge_id) in seen]
        if repeated:
            run.notes.append(f"{prose(run.name)}: {prose(score.path)} repeats judge {prose(', '.join(repeated))} on "
                             f"{prose(score.input_name)} (already in {prose(seen[(score.input_name, repeated[0])])}); "
                             "ignored")
            continue
        for j in score.judges:
            if not j.in_task:
                seen[(score.input_name, j.judge.judge_id)] = score.path
        kept.append(score)
    return kept


def read_score_file(path: Path, rel: str) -> ScoreFile:
    """One ``vsfa score`` JSON (see :mod:`vsfa_plugins.scoring.cli`), checked for the fields we show."""
    data = load_json_object(path)
    where = str(path)
    if not str(data.get("tool", "")).startswith("vsfa-plugins"):
        raise ReportInputError(f"{where}: not a `vsfa score` output (no \"tool\": \"vsfa-plugins …\")")
    input_path = _field(data, "input", str, where)
    judges_data = _field(data, "judges", dict, where)
    rows = _field(data, "rows", list, where)
    agreement = _field(data, "agreement", dict, where)
    judges = []
    in_task = data.get("in_task")
    if isinstance(in_task, dict) and isinstance(in_task.get("metrics"), dict):
        at = f"{where}: in_task.metrics"
        m = in_task["metrics"]
        judges.append(JudgeScore(
            judge=Judge(str(in_task.get("judge_id", "")), "in-task"),
            n=_field(m, "n", int, at), n_attack=_field(m, "n_attack", int, at), n_benign=_field(m, "n_benign", int, at),
            judge_errors=_field(m, "judge_errors", int, at), asr=_optional_number(m, "asr", at),
            over_refusal_rate=_optional_number(m, "over_refusal_rate", at), mean_score=None, scores=(),
            asr_ci=_interval(m, "asr", at), over_refusal_ci=_interval(m, "over_refusal_rate", at), in_task=True))
    for judge_id, entry in judges_data.items():
        at = f"{where}: judges.{judge_id}"
        entry = _check(entry, dict, at)
        metrics = _field(entry, "metrics", dict, at)
        at_m = f"{at}.metrics"
        scores = []
        for index, row in enumerate(rows):
            verdict = _obj(_check(row, dict, f"{where}: rows[{index}]").get("verdicts")).get(judge_id)
            if not isinstance(verdict, dict):
                raise ReportInputError(f"{where}: rows[{index}] has no verdict of judge {judge_id!r}")
            score = verdict.get("score")
            if verdict.get("label") != "judge_error" and _number(score) is not None:
                scores.append(float(score))
        judges.append(JudgeScore(
            judge=Judge(str(entry.get("judge_id", judge_id)), str(entry.get("judge_kind", "")),
                        str(entry.get("label_scheme", "")), str(entry.get("prompt_hash", "")),
                        str(entry.get("source", ""))),
            n=_field(metrics, "n", int, at_m),
            n_attack=_field(metrics, "n_attack", int, at_m),
            n_benign=_field(metrics, "n_benign", int, at_m),
            judge_errors=_field(metrics, "judge_errors", int, at_m),
            asr=_optional_number(metrics, "asr", at_m),
            over_refusal_rate=_optional_number(metrics, "over_refusal_rate", at_m),
            mean_score=_optional_number(metrics, "mean_score", at_m),
            scores=tuple(scores),
            asr_ci=_interval(metrics, "asr", at_m),
            over_refusal_ci=_interval(metrics, "over_refusal_rate", at_m),
        ))
    agreements = []
    for pair, entry in agreement.items():
        at = f"{where}: agreement.{pair}"
        entry = _check(entry, dict, at)
        first, sep, second = pair.partition(" vs ")
        if not sep:
            raise ReportInputError(f"{at}: expected a key '<judge> vs <judge>'")
        agreements.append(Agreement(first, second, _field(entry, "n_compared", int, at),
                                    _optional_number(entry, "kappa_labels", at),
                                    _optional_number(entry, "kappa_attack_success", at),
                                    _optional_number(entry, "raw_agreement", at)))
    name = os.path.basename(input_path)
    match = SAMPLES_RE.match(name)
    return ScoreFile(rel, name, match["task"] if match else None, match["stamp"] if match else None,
                     tuple(judges), tuple(agreements))


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def load_json_object(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)  # lmms-eval writes NaN for rates with nothing judged: json reads it
    except OSError as err:
        raise ReportInputError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        from ..records.reader import non_utf8_where

        raise ReportInputError(non_utf8_where(path)) from None
    except json.JSONDecodeError as err:
        raise ReportInputError(f"{path}:{err.lineno}:{err.colno}: malformed JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _obj(value: Any) -> dict:
    """``value`` if it is a JSON object, else an empty one (optional parts of lmms-eval's results)."""
    return value if isinstance(value, dict) else {}


def _check(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReportInputError(f"{where}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise ReportInputError(f"{where}: missing {key!r}")
    return _check(obj[key], kind, f"{where}.{key}")


def _interval(obj: Mapping[str, Any], rate: str, where: str) -> tuple[float, float] | None:
    """``<rate>_ci95`` of a score file: ``[low, high]`` or null; absent in files written before intervals."""
    value = obj.get(rate + contract.CI_SUFFIX)
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2 or any(_number(v) is None for v in value)
            or not 0 <= value[0] <= value[1] <= 1):
        raise ReportInputError(f"{where}.{rate}{contract.CI_SUFFIX}: expected [low, high] within [0, 1], "
                               f"got {value!r:.60}")
    return float(value[0]), float(value[1])


def _optional_number(obj: Mapping[str, Any], key: str, where: str) -> float | None:
    if key not in obj:
        raise ReportInputError(f"{where}: missing {key!r}")
    value = obj[key]
    if value is not None and _number(value) is None:
        raise ReportInputError(f"{where}.{key}: expected a number or null, got {value!r:.40}")
    return _number(value)


def _number(value: Any) -> float | None:
    """A finite number, else None (lmms-eval writes NaN for a rate with no judged row, "N/A" for stderr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
