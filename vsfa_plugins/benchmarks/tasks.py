"""How a benchmark becomes lmms-eval tasks: the declarations each benchmark module makes, from which
``scripts/gen_tasks.py`` writes ``lmms_tasks/`` (a test fails when the committed YAMLs differ).

A benchmark declares a :class:`TaskLayout`: its folder under ``lmms_tasks/``, the stem of its task names,
the task-name part of each subset, and its :class:`Variant` s — families of tasks, one per subset, that
differ from the benchmark as published only in their ``dataset_kwargs`` (a defence, a protocol, a judge,
a blank image). Task names are ``<stem>[_<subset part>][_<variant suffix>]``; a variant with ``group``
also gets a group ``<stem>[_<suffix>]`` over its tasks, and names the suite it joins.

Plain Python: no lmms-eval import (the generator is a script; lmms-eval reads the YAML it writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .defenses import ADASHIELD_S
from .release import REJECTION_MIX_PROTOCOL

#: the suites (groups of every benchmark's variant group) and what each is for
SUITES: dict[str, str] = {
    "vsfa_safety": "The safety suite: every benchmark whose data is under $VSFA_DATA_ROOT (absent ones are skipped "
                   "with a warning)",
    "vsfa_safety_adashield": "The safety suite with the AdaShield-S static defense on every query (run next to "
                             "vsfa_safety for the No defense / AdaShield rows)",
    "vsfa_safety_rmix": "MM-SafetyBench and FigStep under the rejection-mix paper's released evaluation protocol",
}
SUITE, SUITE_ADASHIELD, SUITE_RMIX = SUITES

#: groups of named tasks / groups across benchmarks, as a paper's table runs them: name -> (description, members).
#: Their group row (lmms/upstream.py wrap 7) gives the pooled ASR and, over several benchmarks,
#: ``asr_mean_of_benchmarks``: the unweighted mean the table prints, each with its interval.
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "vsfa_paper_vsfa": (
        "The VSFA paper's headline table: ASR on MM-SafetyBench, FigStep and SPA-VL (HarmEval); the group row gives\n"
        "each member's ASR, their unweighted mean (asr_mean_of_benchmarks, the table's average) and the pooled\n"
        "rate, each with its 95% interval. Helpfulness beside it: vsfa_mmvet (over-refusal), vsfa score --judge vsfa_cs",
        ("vsfa_mmsafetybench", "vsfa_figstep", "vsfa_spavl_harm"),
    ),
}

ADASHIELD_SOURCE = "github.com/SaFoLab-WISC/AdaShield prompts/static_defense_prompt.txt"


@dataclass(frozen=True)
class Variant:
    """A family of tasks: the benchmark's subsets (or ``subsets``) with these ``dataset_kwargs``."""

    suffix: str  # task-name suffix; "" = the benchmark as published
    options: Mapping[str, str] = field(default_factory=dict)  # the tasks' dataset_kwargs (release.Options)
    note: str = ""  # added to each task's comment ("AdaShield-S static defense prompt (source)")
    group_note: str = ""  # the group's comment ("{title}: all subsets ..."); "" = no group
    subsets: tuple[str, ...] = ()  # () = every subset of the benchmark
    suite: str | None = None  # the suite this variant joins (its group, else its main subset's task)

    @property
    def grouped(self) -> bool:
        return bool(self.group_note)


@dataclass(frozen=True)
class TaskLayout:
    folder: str  # lmms_tasks/<folder>/
    stem: str  # "vsfa_<short name>"
    variants: tuple[Variant, ...]
    #: subset -> its part of the task name ("" = the stem alone); subsets not named use their own name
    subset_parts: Mapping[str, str] = field(default_factory=dict)
    #: per subset, a task comment other than "<title>, <subset description>"
    comments: Mapping[str, str] = field(default_factory=dict)

    def part(self, subset: str) -> str:
        return self.subset_parts.get(subset, subset)

    def task_name(self, subset: str, variant: Variant) -> str:
        return "_".join(p for p in (self.stem, self.part(subset), variant.suffix) if p)

    def group_name(self, variant: Variant) -> str:
        return "_".join(p for p in (self.stem, variant.suffix) if p)


def published(suite: str | None = SUITE) -> Variant:
    """The benchmark as published: all subsets, its own protocol, no defence."""
    return Variant("", group_note="{title}: all subsets, benchmark protocol, no defense", suite=suite)


def adashield(grouped: bool = True, subsets: tuple[str, ...] = ()) -> Variant:
    """Every query with AdaShield-S's static defence prompt."""
    return Variant("adashield", {"defense": ADASHIELD_S}, f"AdaShield-S static defense prompt ({ADASHIELD_SOURCE})",
                   f"{{title}}: all subsets with the AdaShield-S static defense prompt ({ADASHIELD_SOURCE})"
                   if grouped else "", subsets, SUITE_ADASHIELD)


def rejection_mix(note: str, group_note: str = "", subsets: tuple[str, ...] = ()) -> Variant:
    """The rejection-mix paper's released evaluation protocol (its prompt strings and input order)."""
    return Variant("rmix", {"protocol": REJECTION_MIX_PROTOCOL}, note, group_note, subsets, SUITE_RMIX)


def llm_judge(judge: str, note: str, group_note: str) -> Variant:
    """Judged by the benchmark's own (LLM) judge instead of the offline default."""
    return Variant("llm_judge", {"judge": judge}, note, group_note)


def all_tasks(layout: TaskLayout, subsets: Mapping) -> list[tuple[str, str, Variant]]:
    """``(task name, subset, variant)`` of every task of a layout, in declaration order."""
    out = []
    for variant in layout.variants:
        for subset in variant.subsets or tuple(subsets):
            out.append((layout.task_name(subset, variant), subset, variant))
    return out
