"""The walls the README and ARCHITECTURE state, checked on the source (every import, also inside functions):

* only ``vsfa_plugins/llamafactory/`` imports LLaMA-Factory;
* only ``vsfa_plugins/lmms/`` and ``lmms_tasks/`` import lmms-eval;
* so ``records``, ``scoring``, ``io``, ``endpoints``, ``builders``, ``report`` and ``doctor`` import neither
  (doctor asks ``vsfa_plugins.llamafactory.status()`` / ``vsfa_plugins.lmms.status()``);
* one atomic writer: nothing outside ``io.py`` renames temp files into place itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vsfa_plugins"

UPSTREAM_HOMES = {
    "llamafactory": ("vsfa_plugins/llamafactory/",),
    "lmms_eval": ("vsfa_plugins/lmms/", "lmms_tasks/"),
}


def _sources():
    for root in (PACKAGE, REPO / "lmms_tasks"):
        for path in sorted(root.rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imported_top_levels(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_only_the_adapter_packages_import_upstream():
    breaches = []
    for rel, tree in _sources():
        for line, top in _imported_top_levels(tree):
            homes = UPSTREAM_HOMES.get(top)
            if homes and not rel.startswith(homes):
                breaches.append(f"{rel}:{line} imports {top} (only {', '.join(homes)} may)")
    assert not breaches, "\n".join(breaches)


#: not file writes: a tiny model folder is built aside and renamed into place whole (a folder, not a file)
ATOMIC_WRITER_EXEMPT = {"vsfa_plugins/io.py", "vsfa_plugins/testing/tiny.py"}


def test_one_atomic_writer():
    """``os.replace`` / ``tempfile.mkstemp`` belong to io.py's AtomicFile; everything else calls it."""
    breaches = []
    for rel, tree in _sources():
        if rel in ATOMIC_WRITER_EXEMPT:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "rename", "mkstemp") and \
                    isinstance(node.value, ast.Name) and node.value.id in ("os", "tempfile"):
                breaches.append(f"{rel}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not breaches, "\n".join(breaches)


def test_the_wall_check_sees_imports_inside_functions(tmp_path):
    """The check must catch a lazy import, the usual way upstream sneaks in."""
    tree = ast.parse("def f():\n    from llamafactory.data import x\n    import lmms_eval.tasks\n")
    assert sorted(top for _, top in _imported_top_levels(tree)) == ["llamafactory", "lmms_eval"]


def test_benchmarks_are_plain_python_and_import_no_circle():
    """One module per benchmark in ``vsfa_plugins/benchmarks/`` (no lmms-eval, not the lmms adapter); its
    modules import only the shared release/defence/error modules, never the package (the registry) — so
    importing the package builds the registry without a circle."""
    import subprocess
    import sys

    breaches = []
    for path in sorted((PACKAGE / "benchmarks").glob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = node.module or ""
            if node.level == 0 and module.startswith("vsfa_plugins.lmms"):
                breaches.append(f"{rel}:{node.lineno} imports the lmms adapter ({module})")
            # (cli.py sits on top of the registry: nothing in the package imports it)
            if node.level == 1 and not module and path.name not in ("__init__.py", "cli.py"):
                breaches.append(f"{rel}:{node.lineno} imports the benchmarks package itself (a circle)")
            if node.level == 2 and module.startswith("lmms"):
                breaches.append(f"{rel}:{node.lineno} imports the lmms adapter (..{module})")
    assert not breaches, "\n".join(breaches)
    code = ("import sys, vsfa_plugins.benchmarks as b; assert b.benchmarks(); "
            "assert not [m for m in sys.modules if m.startswith(('lmms_eval', 'vsfa_plugins.lmms'))], 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={"VSFA_PLUGINS_DISABLE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
