"""``vsfa configs``: our LLaMA-Factory recipes, DeepSpeed JSON and example datasets, and how they get into
a lab's own LLaMA-Factory folder.

The used-by line is ``llamafactory-cli train vsfa_qwen2vl.yaml``, typed where a lab keeps its recipes and
``data/dataset_info.json`` (LLaMA-Factory resolves ``dataset_dir`` and ``deepspeed`` against the working
directory). In our checkout the recipes say ``llamafactory_configs/...`` (run from the repository root);
``vsfa configs export DIR`` writes them into ``DIR`` with paths that resolve there::

    DIR/vsfa_qwen2vl.yaml ...            recipes: deepspeed: ds_z2.json, dataset_dir: data
    DIR/ds_z2.json, DIR/ds_z3.json
    DIR/data/vsfa_examples/...           our example datasets and their images (a folder of their own)
    DIR/data/dataset_info.json           the lab's file with our example entries merged in

Rules (tested): nothing is written outside ``DIR``; a file that is already there with the same bytes is left
as it is (reruns are no-ops); a lab file that differs is refused — all clashes listed, nothing written —
unless ``force``; the lab's ``dataset_info.json`` keeps every entry it has; all files are committed
together or none (:class:`~vsfa_plugins.builders.outputs.Outputs`).

:func:`configs_dir` finds the files in a checkout (``llamafactory_configs/``) or in an installed wheel
(``vsfa_plugins/_llamafactory_configs``, force-included by ``pyproject.toml``), like
:func:`vsfa_plugins.lmms.tasks_dir` does for ``lmms_tasks/``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: where ``pyproject.toml`` force-includes ``llamafactory_configs/`` inside the wheel
PACKAGED_DIRNAME = "_llamafactory_configs"
_MARKER_FILE = "vsfa_qwen2vl.yaml"
#: inside the exported dataset folder, our example files live in a folder of their own (never the lab's)
EXAMPLES_SUBDIR = "vsfa_examples"
#: the path prefix our checkout's recipes use (relative to the repository root)
_CHECKOUT_PREFIX = "llamafactory_configs/"


class ConfigsNotFound(RuntimeError):
    """Neither the checkout's ``llamafactory_configs/`` nor the wheel's packaged copy is there."""


class ExportError(RuntimeError):
    """An export that would overwrite a lab's file, write outside ``DIR``, or cannot read its inputs."""


def _candidates() -> list[Path]:
    package = Path(__file__).resolve().parent  # .../vsfa_plugins
    return [
        package.parent / "llamafactory_configs",  # source checkout (editable install)
        package / PACKAGED_DIRNAME,  # regular wheel: force-included copy
    ]


def configs_dir() -> Path:
    """The folder holding our recipes, DeepSpeed JSON and ``data/`` (checkout or wheel)."""
    candidates = _candidates()
    for candidate in candidates:
        if (candidate / _MARKER_FILE).is_file():
            return candidate
    raise ConfigsNotFound(
        "vsfa-plugins' LLaMA-Factory recipes are not installed: none of "
        + ", ".join(str(c / _MARKER_FILE) for c in candidates)
        + " exists (reinstall vsfa-plugins; the wheel must force-include llamafactory_configs/ as "
        f"vsfa_plugins/{PACKAGED_DIRNAME})"
    )


def example_data_dir() -> Path:
    """Our example datasets and their ``dataset_info.json`` (``<configs_dir>/data``)."""
    return configs_dir() / "data"


@dataclass
class Recipe:
    name: str  # file name, e.g. vsfa_qwen2vl.yaml
    summary: str  # first comment line of the file
    values: dict  # the top-level ``key: value`` pairs, as text


_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*(#.*)?$")


def _top_level_values(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        m = _KEY_RE.match(line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def recipes(folder: Path | None = None) -> list[Recipe]:
    """Every recipe we ship, sorted by name."""
    folder = folder or configs_dir()
    out = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        first = next((ln for ln in text.splitlines() if ln.startswith("#")), "# ")
        out.append(Recipe(path.name, first.lstrip("# ").strip(), _top_level_values(text)))
    return out


def deepspeed_files(folder: Path | None = None) -> list[Path]:
    folder = folder or configs_dir()
    return sorted(folder.glob("ds_z*.json"))


# --- rewriting a recipe for a lab folder ---------------------------------------------------------------


def _set_value(text: str, key: str, value: str) -> str:
    """Replace the value of a top-level ``key:`` line, keeping its trailing comment; the key must exist."""
    pattern = re.compile(rf"^({re.escape(key)}:\s*)(\S.*?)?(\s+#.*)?$", re.M)
    new, count = pattern.subn(lambda m: m.group(1) + value + (m.group(3) or ""), text, count=1)
    if count != 1:
        raise ExportError(f"recipe has no top-level {key!r} line to rewrite")
    return new


def _rewrite_usage_comment(text: str, name: str) -> str:
    """Our checkout's usage comments say ``llamafactory_configs/<file>`` and "run from the repository
    root": in the lab folder the files sit next to each other."""
    text = text.replace(_CHECKOUT_PREFIX, "")
    return re.sub(
        r"^# Run from the repository root \(paths below are relative to it\)\.",
        f"# Run from this folder (exported by `vsfa configs export`; paths below are relative to it).",
        text, flags=re.M,
    )


def exported_recipe(text: str, name: str, dataset_dir: str, model: str | None) -> str:
    """The text of recipe ``name`` as exported: ``deepspeed`` and ``dataset_dir`` relative to the lab
    folder, ``model_name_or_path`` replaced when ``model`` is given, example ``dataset`` entries pointing at
    the merged ``dataset_info.json``; every comment kept."""
    values = _top_level_values(text)
    if "deepspeed" in values and values["deepspeed"] not in ("", "null"):
        text = _set_value(text, "deepspeed", os.path.basename(values["deepspeed"]))
    text = _set_value(text, "dataset_dir", dataset_dir)
    if model:
        if "\n" in model or "#" in model:
            raise ExportError(f"--model {model!r} is not a plain model id or path")
        text = _set_value(text, "model_name_or_path", model)
    header = (f"# Exported by `vsfa configs export` from vsfa-plugins' {name}. Run from this folder:\n"
              f"#   llamafactory-cli train {name}\n")
    return header + _rewrite_usage_comment(text, name)


# --- export -------------------------------------------------------------------------------------------


@dataclass
class ExportPlan:
    """What an export writes: relative path under ``DIR`` -> bytes, and the entries merged into the lab's
    ``dataset_info.json``."""

    files: dict = field(default_factory=dict)
    dataset_info: str = ""  # relative path of the lab's dataset_info.json
    entries: dict = field(default_factory=dict)


def _inside(base: str, rel: str) -> bool:
    target = os.path.normpath(os.path.join(base, rel))
    return target == base or target.startswith(base + os.sep)


def _check_dataset_dir(dataset_dir: str) -> str:
    if not dataset_dir or os.path.isabs(dataset_dir):
        raise ExportError(f"--dataset-dir {dataset_dir!r} must be a folder relative to DIR (e.g. data)")
    norm = os.path.normpath(dataset_dir)
    if norm == ".." or norm.startswith(".." + os.sep):
        raise ExportError(f"--dataset-dir {dataset_dir!r} leaves DIR; name a folder inside it")
    return norm.replace(os.sep, "/")


def plan_export(dataset_dir: str = "data", model: str | None = None, source: Path | None = None) -> ExportPlan:
    source = source or configs_dir()
    dataset_dir = _check_dataset_dir(dataset_dir)
    plan = ExportPlan()
    for recipe in recipes(source):
        text = (source / recipe.name).read_text(encoding="utf-8")
        plan.files[recipe.name] = exported_recipe(text, recipe.name, dataset_dir, model).encode("utf-8")
    for path in deepspeed_files(source):
        plan.files[path.name] = path.read_bytes()
    data = source / "data"
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = path.relative_to(data).as_posix()
        if rel == "dataset_info.json":
            continue
        plan.files[f"{dataset_dir}/{EXAMPLES_SUBDIR}/{rel}"] = path.read_bytes()
    ours = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    plan.entries = {name: {**entry, "file_name": f"{EXAMPLES_SUBDIR}/{entry['file_name']}"}
                    for name, entry in ours.items()}
    plan.dataset_info = f"{dataset_dir}/dataset_info.json"
    return plan


@dataclass
class ExportResult:
    dest: Path
    written: list = field(default_factory=list)  # relative paths written (new or replaced with --force)
    unchanged: list = field(default_factory=list)  # relative paths already there with the same bytes
    entries_added: list = field(default_factory=list)


def export(dest: str | os.PathLike, dataset_dir: str = "data", model: str | None = None,
           force: bool = False) -> ExportResult:
    """Write our recipes, DeepSpeed JSON and example data into ``dest`` (see the module docstring)."""
    from .builders.outputs import Outputs, merged_dataset_info, read_dataset_info
    from .records.errors import RecordError

    plan = plan_export(dataset_dir, model)
    dest_path = Path(dest).expanduser().absolute()
    if dest_path.exists() and not dest_path.is_dir():
        raise ExportError(f"{dest_path} is a file; name a folder")
    real_dest = os.path.realpath(dest_path)
    result = ExportResult(dest_path)

    clashes, to_write = [], {}
    for rel, data in plan.files.items():
        target = dest_path / rel
        # a symlinked folder inside DIR that points elsewhere would carry the write out of DIR
        if not _inside(real_dest, os.path.relpath(os.path.realpath(target.parent), real_dest)):
            raise ExportError(f"{target}: its folder resolves outside {dest_path} (a symlink?); nothing was written")
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ExportError(f"{target} exists and is not a regular file; nothing was written")
        if target.is_file():
            if target.read_bytes() == data:
                result.unchanged.append(rel)
                continue
            if not force:
                clashes.append(rel)
                continue
        to_write[rel] = data

    info_path = dest_path / plan.dataset_info
    if info_path.is_symlink() or not _inside(
            real_dest, os.path.relpath(os.path.realpath(info_path.parent), real_dest)):
        raise ExportError(f"{info_path} is a symlink or resolves outside {dest_path}; nothing was written")
    try:
        current = read_dataset_info(str(info_path))
    except RecordError as err:
        raise ExportError(str(err)) from None
    for name, entry in plan.entries.items():
        if name in current and current[name] != entry and not force:
            clashes.append(f"{plan.dataset_info}: entry {name!r} is {json.dumps(current[name])}")
    if clashes:
        raise ExportError(
            f"{dest_path} already has files that differ from ours; nothing was written (pass --force to "
            "replace them, or export into another folder):\n  " + "\n  ".join(clashes))
    info_text = merged_dataset_info(str(info_path), plan.entries, replace=force)
    added = [name for name in plan.entries if name not in current]
    changed = added or any(current.get(n) != e for n, e in plan.entries.items())

    with Outputs(dest_path) as out:
        for rel, data in to_write.items():
            out.file(rel, binary=True).write(data)
        if changed:
            out.text(plan.dataset_info, info_text)
    result.written = sorted(to_write) + ([plan.dataset_info] if changed else [])
    result.entries_added = added
    return result


# --- command line --------------------------------------------------------------------------------------


def add_commands(sub) -> None:
    p = sub.add_parser("configs", help="list our LLaMA-Factory recipes, or export them into a lab's folder")
    configs_sub = p.add_subparsers(dest="configs_command", metavar="{list,export}")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    q = configs_sub.add_parser("list", help="the recipes and DeepSpeed files we ship, and where they are")
    q.set_defaults(func=_list_cli)

    q = configs_sub.add_parser(
        "export", help="write the recipes + DeepSpeed JSON into DIR and merge our example entries into "
                       "DIR/<dataset-dir>/dataset_info.json (the lab's entries are kept)")
    q.add_argument("dir", metavar="DIR", help="the folder you run llamafactory-cli train from")
    q.add_argument("--dataset-dir", default="data",
                   help="dataset folder relative to DIR, holding dataset_info.json (default: data)")
    q.add_argument("--model", default=None, help="model_name_or_path to write into every recipe")
    q.add_argument("--force", action="store_true",
                   help="replace files / dataset_info entries of the same name that differ from ours")
    q.set_defaults(func=_export_cli)


def _list_cli(args) -> int:
    try:
        folder = configs_dir()
    except ConfigsNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"recipes in {folder}:")
    for r in recipes(folder):
        v = r.values
        print(f"  {r.name:32s} model={v.get('model_name_or_path', '?')} dataset={v.get('dataset', '?')} "
              f"template={v.get('template', '?')} deepspeed={os.path.basename(v.get('deepspeed', '') or '-')}")
        print(f"  {'':32s} {r.summary}")
    print("deepspeed: " + ", ".join(p.name for p in deepspeed_files(folder)))
    entries = json.loads((folder / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    print("example datasets: " + ", ".join(entries))
    print("export into a lab folder: vsfa configs export DIR [--dataset-dir data] [--model PATH]")
    return 0


def _export_cli(args) -> int:
    from .io import OutputError, error_text

    try:
        result = export(args.dir, dataset_dir=args.dataset_dir, model=args.model, force=args.force)
    except (ExportError, ConfigsNotFound, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 1
    for rel in result.written:
        print(f"wrote {result.dest / rel}")
    if result.unchanged:
        print(f"unchanged: {len(result.unchanged)} file(s) already identical")
    if result.entries_added:
        print(f"dataset_info.json: added {', '.join(result.entries_added)}")
    print(f"next: cd {result.dest} && llamafactory-cli train vsfa_qwen2vl.yaml"
          + ("" if args.model else " model_name_or_path=<your model>"))
    return 0
