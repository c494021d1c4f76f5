"""``vsfa doctor``: versions, install route, and whether our registrations are live in a fresh process.

``vsfa doctor --model CLASS --model-args ...`` instead runs the preflight of :mod:`vsfa_plugins.lmms.preflight`:
one request per input kind our tasks send, through that lmms-eval model class.
"""

from __future__ import annotations

import glob
import os
import site
import sys
from importlib import metadata

PACKAGES = (
    "vsfa-plugins", "llamafactory", "lmms-eval", "transformers", "peft", "datasets", "accelerate",
    "deepspeed", "torch", "torchvision", "torchaudio",
)
PTH_NAME = "vsfa_plugins_autoload.pth"
# doctor imports neither LLaMA-Factory nor lmms-eval itself: it asks our two packages (the walls test
# checks that only vsfa_plugins/llamafactory and vsfa_plugins/lmms import them)


def _lmms_section(out) -> bool:
    from .lmms import status

    st = status()
    if st["error"]:
        out.write(f"lmms-eval import failed: {st['error']}\n")
    out.write(f"lmms-eval tasks: {'ACTIVE' if st['active'] else 'NOT ACTIVE'} (hook: {st['hook']})\n")
    names = st["names"]
    if names:
        groups = [n for n in names if n.startswith("vsfa_safety")]
        out.write(f"  {len(names)} vsfa_ tasks/groups from {st['folder']}\n  suites: {', '.join(groups)}\n")
        out.write(f"  tasks: {', '.join(n for n in names if n not in groups)}\n")
    return _lmms_data(out) and st["active"]


def _lmms_data(out) -> bool:
    from .benchmarks import benchmarks, check_local_release
    from .benchmarks.release import SYNTHETIC_MARKER, data_root, local_status

    ok = True

    out.write(f"benchmark data under {data_root()} ($VSFA_DATA_ROOT):\n")
    for benchmark in benchmarks().values():
        status, missing = local_status(benchmark)
        line = f"  {benchmark.id:<15} {status}"
        if (benchmark.folder() / SYNTHETIC_MARKER).is_file():
            line += " (SYNTHETIC sample: `vsfa data sample`, not the benchmark)"
        if status == "incomplete":
            line += f" (missing: {', '.join(missing)})"
        elif status == "absent":
            line += f" (expected {benchmark.folder()}/; published at {benchmark.published}"
            line += f"; hub fallback {benchmark.hf_id} at run time)" if benchmark.hf_id else ")"
        out.write(line + "\n")
        for check in check_local_release(benchmark):  # every referenced file stat-ed; counts vs published
            out.write(f"    {check.line()}\n")
            ok &= check.ok
    return ok


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def pth_files() -> list[str]:
    dirs = list(site.getsitepackages()) + [site.getusersitepackages()]
    return sorted({p for d in dirs for p in glob.glob(os.path.join(d, PTH_NAME))})


def run_doctor(out, model: str | None = None, model_args: str = "") -> int:
    if model:
        from .lmms.preflight import run_preflight

        return run_preflight(out, model, model_args)
    from . import autoload

    ok = True
    out.write(f"python {sys.version.split()[0]} ({sys.executable})\n")
    for name in PACKAGES:
        out.write(f"  {name:<14} {_version(name)}\n")
    from .versions import summary_lines  # the ranges of pyproject.toml that .ci/install-routes.sh tests

    out.write("".join(f"  {line}\n" for line in summary_lines()))

    pths = pth_files()
    out.write(f"import hook (.pth): {', '.join(pths) if pths else 'MISSING — reinstall vsfa-plugins'}\n")
    if autoload.disabled():
        out.write("import hook: switched off by VSFA_PLUGINS_DISABLE=1 (use `import vsfa_plugins.llamafactory`)\n")

    try:
        from .llamafactory import status as llamafactory_status  # registers on import: needs LLaMA-Factory

        st = llamafactory_status()
    except Exception as err:  # an import failure is exactly what doctor must report
        st = {"active": False, "hook": "not triggered", "error": f"{type(err).__name__}: {err}"}
    if st["error"]:
        out.write(f"LLaMA-Factory import failed: {st['error']}\n")
    registered = st["active"]
    out.write(f"LLaMA-Factory registration: {'ACTIVE' if registered else 'NOT ACTIVE'} (hook: {st['hook']})\n")
    if registered:
        out.write(f"  formats:   {', '.join(st['formats'])}\n  templates: {', '.join(st['templates'])}\n")
    ok &= registered
    ok &= _lmms_section(out)
    out.write("status: OK\n" if ok else "status: PROBLEM (see above)\n")
    return 0 if ok else 1
