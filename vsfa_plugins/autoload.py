"""Import hook that registers our plugins in every Python process.

LLaMA-Factory has no plugin mechanism, and every torchrun rank is a fresh interpreter. The wheel ships
``vsfa_plugins_autoload.pth``; ``site`` runs it at interpreter start-up and it calls :func:`install`,
which only appends a finder to ``sys.meta_path`` (no heavy import). When — and only when — a process
imports ``llamafactory.data``, the finder lets that import finish and then calls
``vsfa_plugins.llamafactory.register()``. Processes that never import LLaMA-Factory pay one cheap
module import.

Off switch: ``VSFA_PLUGINS_DISABLE=1`` (checked in the ``.pth`` line itself and again here).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import traceback

#: module name -> "package.module:function" called right after that module finished importing
TRIGGERS = {
    "llamafactory.data": "vsfa_plugins.llamafactory:register",
    "lmms_eval.tasks": "vsfa_plugins.lmms:register",  # our lmms_tasks/ indexed + benchmark data reader
    # groups of our tasks pooled from the per-answer records (vsfa_plugins.lmms.upstream, wrap 7)
    "lmms_eval.evaluator": "vsfa_plugins.lmms.upstream:pool_groups",
    # lmms-eval model classes that need a guard (vsfa_plugins.lmms.upstream.MODEL_GUARDS, kept equal by a test)
    "lmms_eval.models.chat.llava_hf": "vsfa_plugins.lmms.upstream:guard_llava_hf",
    "lmms_eval.models.simple.qwen2_vl": "vsfa_plugins.lmms.upstream:guard_cpu_data_parallel",
    "lmms_eval.models.simple.qwen2_5_vl": "vsfa_plugins.lmms.upstream:guard_cpu_data_parallel",
    "lmms_eval.models.simple.qwen3_vl": "vsfa_plugins.lmms.upstream:guard_cpu_data_parallel",
    "lmms_eval.models.simple.llava_hf": "vsfa_plugins.lmms.upstream:guard_cpu_data_parallel",
}

#: what happened per trigger in this process, for ``vsfa doctor`` and tests
STATUS: dict[str, str] = {}


def disabled() -> bool:
    return os.environ.get("VSFA_PLUGINS_DISABLE", "") not in ("", "0")


class _RegisterAfterExec(importlib.abc.Loader):
    """Wraps the real loader of a trigger module and runs our registration after it executed."""

    def __init__(self, wrapped: importlib.abc.Loader, target: str, module_name: str):
        self._wrapped = wrapped
        self._target = target
        self._module_name = module_name

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)
        _run_target(self._module_name, self._target)

    def __getattr__(self, name):  # is_package, get_source, get_code … go to the real loader
        return getattr(self._wrapped, name)


def _run_target(module_name: str, target: str) -> None:
    module_path, func_name = target.split(":")
    try:
        module = __import__(module_path, fromlist=[func_name])
        getattr(module, func_name)()
        STATUS[module_name] = "registered"
    except Exception:  # never break the host tool's import; say it loudly instead
        STATUS[module_name] = "failed: " + traceback.format_exc(limit=3)
        sys.stderr.write(
            f"[vsfa-plugins] WARNING: registering {target} after importing {module_name} failed; "
            f"our formats/templates are NOT available in this process.\n{traceback.format_exc()}"
        )


class AutoloadFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself; for trigger modules it asks the other finders and wraps their loader."""

    def find_spec(self, fullname, path=None, target=None):
        trigger = TRIGGERS.get(fullname)
        if trigger is None or fullname in STATUS:
            return None
        STATUS[fullname] = "importing"
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisterAfterExec(spec.loader, trigger, fullname)
                return spec
        del STATUS[fullname]
        return None


def install() -> bool:
    """Put the finder on ``sys.meta_path`` (idempotent). Returns False when switched off."""
    if disabled():
        return False
    if any(isinstance(f, AutoloadFinder) for f in sys.meta_path):
        return True
    sys.meta_path.insert(0, AutoloadFinder())
    # The trigger may already be imported (e.g. install() called late, by hand): register now.
    for module_name, target in TRIGGERS.items():
        if module_name in sys.modules and module_name not in STATUS:
            _run_target(module_name, target)
    return True
