"""Everything lmms-eval sees of vsfa-plugins: where our ``lmms_tasks/`` lives and how it gets indexed.

lmms-eval 0.7.3 indexes task YAMLs from its own ``lmms_eval/tasks/`` plus ``--include_path``; its
``LMMS_EVAL_PLUGINS`` route never reaches the task index. So :func:`register` (run by the ``.pth`` import
hook right after ``lmms_eval.tasks`` is imported, see :mod:`vsfa_plugins.autoload`) installs the wraps of
:mod:`.upstream`: ``TaskManager`` also indexes :func:`tasks_dir`, and tasks whose ``dataset_path`` is
``vsfa:<benchmark>`` read the benchmark's official release from ``$VSFA_DATA_ROOT/<benchmark>/``.

Importing this package is cheap (no lmms-eval import): ``vsfa doctor`` and the packaging code use
:func:`tasks_dir` without loading lmms-eval.
"""

from __future__ import annotations

from pathlib import Path

#: every task, group and tag we ship starts with this (lmms-eval's built-in names shadow ours)
TASK_PREFIX = "vsfa_"
#: the one group that must exist in our task folder (also the marker that a folder is ours)
SUITE_GROUP = "vsfa_safety"
_MARKER_FILE = "vsfa_safety.yaml"
#: where ``pyproject.toml`` force-includes ``lmms_tasks/`` inside the wheel
PACKAGED_DIRNAME = "_lmms_tasks"

_REGISTERED: dict[str, str] = {}


class TasksDirNotFound(RuntimeError):
    """Neither the checkout's ``lmms_tasks/`` nor the wheel's packaged copy is there."""


def _candidates() -> list[Path]:
    package = Path(__file__).resolve().parents[1]  # .../vsfa_plugins
    return [
        package.parent / "lmms_tasks",  # running from a source checkout (editable install)
        package / PACKAGED_DIRNAME,  # regular wheel: force-included copy
    ]


def tasks_dir() -> Path:
    """The folder holding our lmms-eval task YAMLs (the checkout's ``lmms_tasks/`` or the wheel's copy)."""
    candidates = _candidates()
    for candidate in candidates:
        if (candidate / _MARKER_FILE).is_file():
            return candidate
    raise TasksDirNotFound(
        "vsfa-plugins' lmms-eval tasks are not installed: none of "
        + ", ".join(str(c / _MARKER_FILE) for c in candidates)
        + " exists (reinstall vsfa-plugins; the wheel must force-include lmms_tasks/ as vsfa_plugins/_lmms_tasks)"
    )


def register() -> dict[str, str]:
    """Make lmms-eval index our tasks and read our benchmark data. Idempotent; returns what it did."""
    if _REGISTERED:
        return _REGISTERED
    from . import upstream

    upstream.apply()
    _REGISTERED["tasks_dir"] = str(tasks_dir())
    return _REGISTERED


def status() -> dict:
    """What ``vsfa doctor`` reports for lmms-eval, asked here so that only this package imports it.

    ``names``: the ``vsfa_`` tasks/groups lmms-eval's TaskManager indexes from our folder. The TaskManager is
    built without lmms-eval's own tasks, so every name it lists came through our wrap of
    ``initialize_tasks`` — i.e. from the import hook — and indexing stays fast. ``active``: the suite group
    is among them. ``error``: why lmms-eval could not be imported or indexed, if so.
    """
    from .. import autoload

    out = {"active": False, "hook": "", "names": [], "folder": "", "error": ""}
    try:
        from lmms_eval.tasks import TaskManager  # the hook registers on this import

        folder = str(tasks_dir())
        manager = TaskManager("WARNING", include_defaults=False)
    except Exception as err:  # an import failure is exactly what doctor must report
        out["error"] = f"{type(err).__name__}: {err}"
        out["hook"] = autoload.STATUS.get("lmms_eval.tasks", "not triggered")
        return out
    out["hook"] = autoload.STATUS.get("lmms_eval.tasks", "not triggered")
    out["folder"] = folder
    out["names"] = sorted(
        name for name, entry in manager.task_index.items()
        if name.startswith(TASK_PREFIX) and str(entry.get("yaml_path", "")).startswith(folder)
    )
    out["active"] = SUITE_GROUP in out["names"]
    return out
