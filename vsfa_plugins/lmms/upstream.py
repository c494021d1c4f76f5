"""The one module that reaches into lmms-eval internals (0.7.3). Pinned by ``tests/test_lmms_upstream_contract.py``.

Four wraps, all idempotent:

1. ``TaskManager.initialize_tasks`` — also index :func:`~vsfa_plugins.lmms.tasks_dir` (unless the user
   already passed it as ``--include_path``), with lmms-eval's own precedence (built-in names win: ours all
   start with ``vsfa_``). If our folder cannot be indexed, or a name of ours is shadowed, say so loudly on
   stderr: lmms-eval would otherwise just report "Tasks not found" later.
2. ``ConfigurableTask.download`` — a task whose ``dataset_path`` is ``vsfa:<benchmark>`` reads the
   benchmark's official release (:mod:`.loader`); every other task downloads exactly as before.
3. ``TaskManager._get_config`` — a group whose ``metadata.vsfa_skip_absent`` is true (``vsfa_safety``)
   drops, with a warning, the members whose benchmark data is absent. A task named explicitly is never
   dropped: its absence is an error.
4. ``TaskManager.load_task_or_group`` — under the ``lmms-eval`` command, one of our data errors ends the run
   with its message and exit status 2 (lmms-eval itself would print a traceback and exit 0). From Python
   (``simple_evaluate``) the exception propagates unchanged.

And two guards for model classes (installed by the import hook when lmms-eval imports the class's module,
see :data:`MODEL_GUARDS`): one for a class that cannot take our text-only requests, one for data parallel
on CPU:

5. chat ``llava_hf`` (``lmms_eval/models/chat/llava_hf.py``) — its ``generate_until`` calls
   ``processor(images=visuals, ...)`` with ``visuals == []`` for a request without an image (XSTest,
   MM-SafetyBench ``text``), and transformers' image processor indexes ``images[0]`` → ``IndexError``,
   the whole run dies and no results are written. The guard hands the processor ``images=None`` instead,
   i.e. the request runs *text-only*, exactly as the benchmark defines it and as ``qwen2_vl`` / ``openai``
   run it. We deliberately do NOT add a blank image: that would change the model's input for this class
   only, and its ASR would no longer be comparable with other classes' (the recorded ``image_condition``
   stays ``no_image`` and stays true).
6. simple ``qwen2_vl`` / ``qwen2_5_vl`` / ``qwen3_vl`` / ``llava_hf`` under ``accelerate launch --multi_gpu
   --num_processes N`` on CPU (gloo): see :func:`guard_cpu_data_parallel`.

And one for the evaluator (installed when ``lmms_eval.evaluator`` is imported):

7. ``consolidate_results`` / ``consolidate_group_results`` as ``lmms_eval.evaluator`` imported them — every
   group made of our tasks is computed from its members' per-answer records (hits ÷ judged rows, clustered
   intervals, summed counts) instead of a size-weighted mean: see :func:`pool_our_groups`.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from pathlib import Path

from . import SUITE_GROUP, TASK_PREFIX, TasksDirNotFound, tasks_dir
from ..benchmarks.release import BenchmarkDataMissing, BenchmarkError
from .loader import benchmark_id

_PATCHED = "__vsfa_patched__"
EXIT_DATA_ERROR = 2


class UpstreamChanged(RuntimeError):
    """lmms-eval changed an internal we rely on; pin lmms-eval==0.7.3 or update vsfa-plugins."""


def warn(message: str) -> None:
    sys.stderr.write(f"[vsfa-plugins] WARNING: {message}\n")
    sys.stderr.flush()


def _params(func) -> tuple[str, ...]:
    return tuple(inspect.signature(inspect.unwrap(func)).parameters)


def _check(func, expected: tuple[str, ...], name: str) -> None:
    got = _params(func)
    if got != expected:
        raise UpstreamChanged(f"lmms-eval {name} has parameters {got}, expected {expected}")


def _same_dir(a, b: Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == b.resolve()
    except (OSError, TypeError):
        return False


# --- 1. task index -------------------------------------------------------------------------------


def _wrap_initialize_tasks(cls) -> None:
    original = cls.initialize_tasks
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def initialize_tasks(self, include_path=None, include_defaults=True):
        index = original(self, include_path=include_path, include_defaults=include_defaults)
        try:
            ours = tasks_dir()
        except TasksDirNotFound as err:
            warn(f"our lmms-eval tasks are NOT registered: {err}")
            return index
        paths = [include_path] if isinstance(include_path, (str, os.PathLike)) else list(include_path or [])
        try:
            our_index = self._get_task_and_group(str(ours))
        except Exception as err:  # a broken YAML of ours must not take lmms-eval's own tasks down with it
            warn(f"our lmms-eval tasks in {ours} are NOT registered: indexing failed: {type(err).__name__}: {err}")
            return index
        if not any(_same_dir(p, ours) for p in paths):
            index = {**our_index, **index}  # lmms-eval's precedence: paths indexed earlier win
        _check_registration(index, our_index, ours)
        _check_utils(ours)
        return index

    setattr(initialize_tasks, _PATCHED, True)
    cls.initialize_tasks = initialize_tasks


def _check_registration(index: dict, our_index: dict, ours: Path) -> None:
    if SUITE_GROUP not in our_index:
        warn(f"group {SUITE_GROUP!r} is missing from {ours}: our lmms-eval tasks are NOT registered")
        return
    foreign = sorted(n for n in our_index if not n.startswith(TASK_PREFIX))
    if foreign:
        warn(f"task names without the {TASK_PREFIX!r} prefix in {ours}: {foreign} (built-in names shadow them)")
    shadowed = sorted(
        n for n, entry in our_index.items()
        if index.get(n) is not None and entry.get("yaml_path") != -1 and index[n].get("yaml_path") != entry["yaml_path"]
    )
    if shadowed:
        warn(f"these task names of ours are shadowed by another definition and will NOT run ours: {shadowed}")


_UTILS_CHECKED: set[str] = set()


def _check_utils(ours: Path) -> None:
    """Import each task folder's utils.py the way lmms-eval's ``!function`` does (once per process): a broken
    one would otherwise only surface when a task of that folder is built."""
    import importlib.util

    for path in sorted(ours.glob("*/utils.py")):
        if str(path) in _UTILS_CHECKED:
            continue
        _UTILS_CHECKED.add(str(path))
        try:
            spec = importlib.util.spec_from_file_location("utils", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except Exception as err:
            warn(f"{path} fails to import ({type(err).__name__}: {err}): the tasks of {path.parent.name}/ will NOT load")


# --- 2. reading our benchmark data ---------------------------------------------------------------


def _wrap_download(cls) -> None:
    original = cls.download
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def download(self, dataset_kwargs=None):
        if benchmark_id(getattr(self.config, "dataset_path", None)) is None:
            return original(self, dataset_kwargs)
        from .loader import load_task_dataset

        load_task_dataset(self, dataset_kwargs)  # no retry loop: a missing file does not appear by retrying

    setattr(download, _PATCHED, True)
    cls.download = download


# --- 3. groups that skip benchmarks whose data is absent -----------------------------------------

_SKIP_KEY = "vsfa_skip_absent"
_SKIPPED: dict[str, str] = {}  # member -> reason, per process (warn once)


def _wrap_get_config(cls) -> None:
    original = cls._get_config
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def _get_config(self, name):
        config = original(self, name)
        if isinstance(config, dict) and isinstance(config.get("task"), list) \
                and isinstance(config.get("metadata"), dict) and config["metadata"].get(_SKIP_KEY):
            config = dict(config, task=present_members(self, config.get("group", name), config["task"]))
        return config

    setattr(_get_config, _PATCHED, True)
    cls._get_config = _get_config


def member_benchmark(task_manager, name) -> str | None:
    """The benchmark a group member reads: ``dataset_path: vsfa:<id>`` (task) or ``metadata.vsfa_benchmark`` (group)."""
    from lmms_eval import utils

    if not isinstance(name, str) or name not in task_manager.task_index:
        return None
    yaml_path = task_manager.task_index[name].get("yaml_path")
    if yaml_path in (None, -1):
        return None
    config = utils.load_yaml_config(yaml_path, mode="simple")
    found = benchmark_id(config.get("dataset_path"))
    if found is None and isinstance(config.get("metadata"), dict):
        found = config["metadata"].get("vsfa_benchmark")
    return found


def present_members(task_manager, group: str, members: list) -> list:
    from ..benchmarks import get_benchmark
    from ..benchmarks.release import is_present

    kept, reasons = [], []
    for member in members:
        bench = member_benchmark(task_manager, member)
        if bench is None:
            kept.append(member)
            continue
        present, detail = is_present(get_benchmark(bench))
        if present:
            kept.append(member)
            continue
        reasons.append(detail)
        if member not in _SKIPPED:
            _SKIPPED[member] = detail
            warn(f"{group}: skipping {member} (its data is absent; name it explicitly to get an error)\n  "
                 + detail.replace("\n", "\n  "))
    if not kept:
        raise BenchmarkDataMissing(f"{group}: no benchmark data found for any member.\n" + "\n".join(reasons))
    return kept


# --- 4. clean errors on the command line ---------------------------------------------------------


def running_lmms_eval_cli() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return argv0 in ("lmms-eval", "lmms_eval") or getattr(spec, "name", "") in ("lmms_eval.__main__", "lmms_eval")


def _wrap_load_task_or_group(cls) -> None:
    original = cls.load_task_or_group
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def load_task_or_group(self, task_list=None, task_type="simple"):
        try:
            return original(self, task_list, task_type)
        except BenchmarkError as err:
            if not running_lmms_eval_cli():
                raise
            sys.stderr.write(f"[vsfa-plugins] ERROR: {err}\n")
            sys.stderr.flush()
            raise SystemExit(EXIT_DATA_ERROR) from None

    setattr(load_task_or_group, _PATCHED, True)
    cls.load_task_or_group = load_task_or_group


# --- 5. model classes that cannot take a text-only request --------------------------------------


class _EmptyImagesAsNone:
    """A processor proxy: ``images=[]`` (a text-only request) becomes ``images=None``; all else unchanged."""

    def __init__(self, processor):
        self._vsfa_wrapped = processor

    def __getattr__(self, name):  # tokenizer, apply_chat_template, ... are the real processor's
        return getattr(self._vsfa_wrapped, name)

    def __call__(self, *args, **kwargs):
        images = kwargs.get("images")
        if images is not None and len(images) == 0:
            kwargs["images"] = None
        return self._vsfa_wrapped(*args, **kwargs)


def _wrap_text_only_processor(cls, attribute: str) -> None:
    """Before each ``generate_until``, put :class:`_EmptyImagesAsNone` around ``self.<attribute>``."""
    original = cls.generate_until
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def generate_until(self, requests):
        processor = getattr(self, attribute)
        if not isinstance(processor, _EmptyImagesAsNone):
            setattr(self, attribute, _EmptyImagesAsNone(processor))
        return original(self, requests)

    setattr(generate_until, _PATCHED, True)
    cls.generate_until = generate_until


#: where the call that breaks on ``images=[]`` sits in each guarded class (pinned by the contract test)
LLAVA_HF_PROCESSOR_CALL = "self._image_processor(images=visuals, videos=videos, text=text"


def guard_llava_hf() -> None:
    """Guard 5 (see the module docstring). Raises :class:`UpstreamChanged` if the call moved."""
    from lmms_eval.models.chat.llava_hf import LlavaHf

    if LLAVA_HF_PROCESSOR_CALL not in inspect.getsource(inspect.unwrap(LlavaHf.generate_until)):
        raise UpstreamChanged(f"lmms-eval's chat llava_hf no longer calls {LLAVA_HF_PROCESSOR_CALL!r}")
    _wrap_text_only_processor(LlavaHf, "_image_processor")


# --- 6. data parallel on CPU --------------------------------------------------------------------

#: model classes whose ``__init__`` sends every rank of a multi-process run to ``cuda:<local rank>`` and then
#: asserts MULTI_GPU/FSDP (lmms-eval 0.7.3, e.g. lmms_eval/models/simple/qwen2_vl.py ``__init__``)
CPU_DATA_PARALLEL_CLASSES = {
    "lmms_eval.models.simple.qwen2_vl": "Qwen2_VL",
    "lmms_eval.models.simple.qwen2_5_vl": "Qwen2_5_VL",
    "lmms_eval.models.simple.qwen3_vl": "Qwen3_VL",
    "lmms_eval.models.simple.llava_hf": "LlavaHf",
}
#: the lines of those ``__init__``s the guard relies on (pinned here: a change raises UpstreamChanged)
CUDA_PER_RANK_LINES = ("accelerator = Accelerator()", 'torch.device(f"cuda:{accelerator.local_process_index}")')


class _OneProcessView:
    """The Accelerator as such an ``__init__`` sees it on CPU data parallel: one process (so it keeps the
    ``device`` the user gave and loads a plain model); everything else is the real Accelerator's."""

    num_processes = 1

    def __init__(self, accelerator):
        self._vsfa_wrapped = accelerator

    def __getattr__(self, name):
        return getattr(self._vsfa_wrapped, name)


def _wrap_cpu_data_parallel(cls, module) -> None:
    original = cls.__init__
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        from accelerate import DistributedType, PartialState

        state = PartialState()  # what Accelerator() in the original would set up: gloo on CPU
        if state.num_processes < 2 or state.distributed_type != DistributedType.MULTI_CPU:
            return original(self, *args, **kwargs)
        real = module.Accelerator
        module.Accelerator = lambda *a, **k: _OneProcessView(real(*a, **k))
        try:
            original(self, *args, **kwargs)
        finally:
            module.Accelerator = real
        # each rank holds a whole model (no DDP wrapper: evaluation only); lmms-eval's evaluator shards the
        # requests by these and gathers the results over the gloo group
        self.accelerator = real()
        self._rank, self._world_size = state.process_index, state.num_processes

    setattr(__init__, _PATCHED, True)
    cls.__init__ = __init__


def guard_cpu_data_parallel() -> None:
    """Guard 6: ``accelerate launch --multi_gpu --num_processes N`` on a machine without GPUs (a MULTI_CPU
    gloo group). Unguarded, these classes put rank i on ``cuda:i`` (no driver: the run dies) and assert a GPU
    distributed type. Guarded, each rank loads the model on the ``device`` given in ``--model_args``
    (``cpu``); with one process or on GPUs the class runs unchanged. Applied to every listed class
    whose module is imported (idempotent)."""
    for module_name, class_name in CPU_DATA_PARALLEL_CLASSES.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        cls = getattr(module, class_name)
        source = inspect.getsource(inspect.unwrap(cls.__init__))
        if not all(line in source for line in CUDA_PER_RANK_LINES) or not hasattr(module, "Accelerator"):
            raise UpstreamChanged(f"lmms-eval's {module_name}.{class_name}.__init__ no longer places ranks "
                                  "as vsfa-plugins expects")
        _wrap_cpu_data_parallel(cls, module)


#: lmms-eval model module -> its guard; the import hook runs the guard right after the module is imported
MODEL_GUARDS = {
    "lmms_eval.models.chat.llava_hf": "vsfa_plugins.lmms.upstream:guard_llava_hf",
    **{name: "vsfa_plugins.lmms.upstream:guard_cpu_data_parallel" for name in CPU_DATA_PARALLEL_CLASSES},
}


# --- 7. groups pooled from the records ----------------------------------------------------------
#
# lmms-eval pools a group as the size-weighted mean of its members' values ("mean", weight_by_size), with
# sizes = docs: with judge errors that differs from hits / judged rows, a count has no meaning as a mean
# and an interval end is not an average of interval ends. Our groups are instead computed from the
# members' per-answer records by the function `vsfa score` and `vsfa report` use
# (vsfa_plugins.scoring.pooling.pooled_metrics), with clustered intervals. lmms-eval's evaluator binds
# both functions by name (`from lmms_eval.evaluator_utils import consolidate_results, ...`), so the wrap
# is installed on lmms_eval.evaluator once it is imported (autoload trigger "lmms_eval.evaluator").

_GROUP_RECORDS: dict[str, list] = {}


def _records_of(task_output) -> list | None:
    from ..scoring.contract import SAMPLE_RECORD

    for (metric, _filter), items in getattr(task_output, "sample_metrics", {}).items():
        if metric == SAMPLE_RECORD:
            return [item for item in items if isinstance(item, dict)]
    return None


def pool_our_groups(results: dict, aggregation_list: dict, records: dict[str, list]) -> list[str]:
    """Replace, in ``results``, the figures of every group whose leaf tasks all carry our records by the
    pooled figures of those records. Returns the groups rewritten."""
    from ..scoring.contract import CI_METHOD_ENV
    from ..scoring.pooling import pooled_metrics
    from ..scoring.stats import DEFAULT_METHOD

    method = os.environ.get(CI_METHOD_ENV) or DEFAULT_METHOD
    done = []
    for group, leaves in (aggregation_list or {}).items():
        leaves = list(dict.fromkeys(leaves))
        if not leaves or group not in results or not all(leaf in records for leaf in leaves):
            continue
        pooled = pooled_metrics([r for leaf in leaves for r in records[leaf]], method)
        ours = {key.partition(",")[0] for leaf in leaves for key in results.get(leaf, {})} | set(pooled)
        row = results[group]
        for key in list(row):
            if "," in key and key.partition(",")[0].split("_stderr")[0] in ours:
                del row[key]  # lmms-eval's size-weighted means (and their stderr) of our metrics
        row.pop(" ", None)
        for name, value in pooled.items():
            row[f"{name},none"] = value
        done.append(group)
    return done


def _wrap_consolidation(evaluator) -> None:
    original_results = evaluator.consolidate_results
    original_groups = evaluator.consolidate_group_results
    if getattr(original_groups, _PATCHED, False):
        return

    @functools.wraps(original_results)
    def consolidate_results(eval_tasks):
        _GROUP_RECORDS.clear()
        for task_output in eval_tasks:
            found = _records_of(task_output)
            if found is not None:
                _GROUP_RECORDS[task_output.task_name] = found
        return original_results(eval_tasks)

    @functools.wraps(original_groups)
    def consolidate_group_results(results, versions, task_dict, *args, **kwargs):
        out = original_groups(results, versions, task_dict, *args, **kwargs)
        if _GROUP_RECORDS and not args and not kwargs:  # the top-level call of the evaluator
            try:
                pool_our_groups(out[0], out[3], _GROUP_RECORDS)
            finally:
                _GROUP_RECORDS.clear()
        return out

    for func in (consolidate_results, consolidate_group_results):
        setattr(func, _PATCHED, True)
    evaluator.consolidate_results = consolidate_results
    evaluator.consolidate_group_results = consolidate_group_results


def pool_groups() -> None:
    """Autoload trigger ``lmms_eval.evaluator``: install wrap 7 there."""
    import lmms_eval.evaluator as evaluator

    _check(evaluator.consolidate_results, ("eval_tasks",), "evaluator_utils.consolidate_results")
    _check(evaluator.consolidate_group_results,
           ("results", "versions", "task_dict", "task_root", "show_group_table", "task_aggregation_list"),
           "evaluator_utils.consolidate_group_results")
    _wrap_consolidation(evaluator)


# --- install -------------------------------------------------------------------------------------


def apply() -> None:
    """Install the four wraps. Raises :class:`UpstreamChanged` if an internal moved."""
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.tasks import TaskManager

    _check(TaskManager.initialize_tasks, ("self", "include_path", "include_defaults"), "TaskManager.initialize_tasks")
    _check(TaskManager._get_task_and_group, ("self", "task_dir"), "TaskManager._get_task_and_group")
    _check(TaskManager._get_config, ("self", "name"), "TaskManager._get_config")
    _check(TaskManager.load_task_or_group, ("self", "task_list", "task_type"), "TaskManager.load_task_or_group")
    _check(ConfigurableTask.download, ("self", "dataset_kwargs"), "ConfigurableTask.download")
    _wrap_initialize_tasks(TaskManager)
    _wrap_get_config(TaskManager)
    _wrap_load_task_or_group(TaskManager)
    _wrap_download(ConfigurableTask)
