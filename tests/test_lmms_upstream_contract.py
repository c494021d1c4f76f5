"""Fails loudly when lmms-eval moves an internal that vsfa_plugins.lmms.upstream relies on.

If one of these breaks after an upgrade: pin lmms-eval==0.7.3 again, or update vsfa_plugins/lmms/upstream.py.
"""

from __future__ import annotations

import inspect

import lmms_eval.tasks  # noqa: F401  (the import hook registers on this)
from lmms_eval import __main__ as lmms_main
from lmms_eval import evaluator, utils
from lmms_eval.api.task import ConfigurableMessagesTask, ConfigurableTask, TaskConfig
from lmms_eval.models.simple import qwen2_vl
from lmms_eval.tasks import TaskManager

from vsfa_plugins import autoload
from vsfa_plugins.lmms import upstream


def _source(func) -> str:
    return inspect.getsource(inspect.unwrap(func))


def test_the_hook_registered_in_this_process():
    assert autoload.TRIGGERS["lmms_eval.tasks"] == "vsfa_plugins.lmms:register"
    assert autoload.STATUS["lmms_eval.tasks"] == "registered"
    for method in (TaskManager.initialize_tasks, TaskManager._get_config, TaskManager.load_task_or_group,
                   ConfigurableTask.download):
        assert getattr(method, "__vsfa_patched__", False), method
    assert ConfigurableMessagesTask.download is ConfigurableTask.download  # chat tasks read our data too


def test_task_index_is_built_by_initialize_tasks_with_first_path_winning():
    assert upstream._params(TaskManager.initialize_tasks) == ("self", "include_path", "include_defaults")
    assert "self._task_index = self.initialize_tasks(include_path=include_path" in _source(TaskManager.__init__)
    source = _source(TaskManager.initialize_tasks)
    assert "task_index = {**tasks, **task_index}" in source  # earlier paths (built-ins) shadow later ones
    assert "self._get_task_and_group(task_dir)" in source
    assert upstream._params(TaskManager._get_task_and_group) == ("self", "task_dir")


def test_the_cli_builds_its_task_manager_with_include_path_and_no_plugin_route_for_tasks():
    source = _source(lmms_main.cli_evaluate_single)
    assert "TaskManager(args.verbosity, include_path=args.include_path, model_name=args.model)" in source
    # LMMS_EVAL_PLUGINS only extends args.include_path AFTER the TaskManager is built: why we wrap instead
    assert source.index("TaskManager(args.verbosity") < source.index('os.environ.get("LMMS_EVAL_PLUGINS"')


def test_groups_are_read_through_get_config_and_tasks_load_through_download():
    assert upstream._params(TaskManager._get_config) == ("self", "name")
    loader = _source(TaskManager._load_individual_task_or_group)
    assert "group_config = self._get_config(name_or_config)" in loader
    assert upstream._params(TaskManager.load_task_or_group) == ("self", "task_list", "task_type")
    assert "self._load_individual_task_or_group" in _source(TaskManager.load_task_or_group)
    assert upstream._params(ConfigurableTask.download) == ("self", "dataset_kwargs")
    init = _source(ConfigurableTask.__init__)
    assert "self.download(self.config.dataset_kwargs)" in init
    assert "self.task_docs = self.test_docs()" in init and "test_doc = self.task_docs[0]" in init


def test_yaml_functions_import_the_utils_next_to_the_yaml():
    source = _source(utils.import_function)
    assert 'os.path.join(yaml_path, "{}.py".format(module_name))' in source
    assert "spec_from_file_location" in source


def test_default_stop_string_is_added_unless_until_is_given():
    """Why our templates set ``until: []``: without it lmms-eval stops at the few-shot delimiter "\\n\\n"."""
    assert TaskConfig(task="t", generation_kwargs={"max_new_tokens": 8}).generation_kwargs["until"] == ["\n\n"]
    assert TaskConfig(task="t", generation_kwargs={"max_new_tokens": 8, "until": []}).generation_kwargs["until"] == []
    source = _source(qwen2_vl.Qwen2_VL.generate_until)
    assert 'if "until" in gen_kwargs:' in source and "for term in until:" in source


def test_groups_of_our_tasks_are_pooled_from_the_records():
    """Wrap 7: the evaluator consolidates leaf results from TaskOutputs (whose sample_metrics hold our
    vsfa_record items, gathered from every rank) and then groups, by the names it imported."""
    assert autoload.TRIGGERS["lmms_eval.evaluator"] == "vsfa_plugins.lmms.upstream:pool_groups"
    assert autoload.STATUS["lmms_eval.evaluator"] == "registered"
    for func in (evaluator.consolidate_results, evaluator.consolidate_group_results):
        assert getattr(func, "__vsfa_patched__", False), func
    source = _source(evaluator.evaluate)
    assert ") = consolidate_results(eval_tasks)" in source
    assert "consolidate_group_results(results, versions, task_dict)" in source
    assert "task_output.sample_metrics[metrics] = list(itertools.chain.from_iterable(metric_list))" in source
    from lmms_eval import evaluator_utils

    assert "for (metric, filter_key), items in task_output.sample_metrics.items():" in _source(
        evaluator_utils.consolidate_results)
    group_source = _source(evaluator_utils.consolidate_group_results)
    assert "return results, versions, show_group_table, task_aggregation_list" in group_source


def test_evaluator_calls_what_our_tasks_provide():
    # lmms-eval 0.7.3 moved this loop out of evaluate() into _process_document_results (0.7 .. 0.7.2: inline)
    where = getattr(evaluator, "_process_document_results", evaluator.evaluate)
    assert "task.process_results(doc, [req.filtered_resps[filter_key] for req in requests])" in _source(where)
    assert "configs[task_name] = dict(task.dump_config())" in _source(evaluator.evaluate)
    # a YAML `metadata` dict is kept as is in the dumped config (where our provenance rides)
    assert "metadata" in TaskConfig.__dataclass_fields__


def test_llava_hf_guard_is_installed_and_still_needed(tiny_llava):
    """chat ``llava_hf`` feeds ``images=[]`` to the processor on a text-only request (XSTest, MM-SafetyBench
    ``text``) and transformers' image processor raises IndexError on it. If this test fails because the call
    moved or ``images=[]`` now works, upstream changed: re-check, then drop or adapt guard 5 of upstream.py."""
    import pytest
    from lmms_eval.models.chat.llava_hf import LlavaHf
    from transformers import AutoProcessor

    assert autoload.TRIGGERS["lmms_eval.models.chat.llava_hf"] == upstream.MODEL_GUARDS["lmms_eval.models.chat.llava_hf"]
    assert set(upstream.MODEL_GUARDS.items()) <= set(autoload.TRIGGERS.items())
    assert getattr(LlavaHf.generate_until, "__vsfa_patched__", False)  # the hook ran on the import above
    source = _source(LlavaHf.generate_until)
    assert upstream.LLAVA_HF_PROCESSOR_CALL in source
    assert "visual, video, _ = messages.extract_media()" in source and "visuals = self.flatten(visuals)" in source

    processor = AutoProcessor.from_pretrained(tiny_llava)
    prompt = "USER: Hello? ASSISTANT:"
    with pytest.raises(IndexError):  # still broken upstream: the guard is still needed
        processor(images=[], videos=None, text=prompt, return_tensors="pt")
    guarded = upstream._EmptyImagesAsNone(processor)
    assert guarded.tokenizer is processor.tokenizer
    assert guarded(images=[], videos=None, text=prompt, return_tensors="pt")["input_ids"].tolist() == \
        processor(images=None, videos=None, text=prompt, return_tensors="pt")["input_ids"].tolist()
