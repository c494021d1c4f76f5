"""Everything LLaMA-Factory sees of vsfa-plugins.

``register()`` adds the ``vsfa`` / ``rejection_mix`` dataset formats and our templates to LLaMA-Factory's
registries and installs the two wraps of :mod:`.upstream`. It runs automatically in every process that
imports ``llamafactory.data`` (the ``.pth`` import hook, see :mod:`vsfa_plugins.autoload`); importing
this package also calls it, for users who switched the hook off (``VSFA_PLUGINS_DISABLE=1``) and
prefer an explicit ``import vsfa_plugins.llamafactory``. Idempotent.
"""

from __future__ import annotations

_REGISTERED: dict[str, list[str]] = {}


def register() -> dict[str, list[str]]:
    """Register formats and templates with LLaMA-Factory; returns what is registered."""
    if _REGISTERED:
        return _REGISTERED
    from llamafactory.data.converter import DATASET_CONVERTERS, register_dataset_converter

    from . import upstream
    from .formats import CONVERTERS
    from .templates import DERIVED_TEMPLATES, register_templates

    upstream.apply()
    for name, converter in CONVERTERS.items():
        if DATASET_CONVERTERS.get(name) is not converter:
            register_dataset_converter(name, converter)
    register_templates()
    _REGISTERED["formats"] = list(CONVERTERS)
    _REGISTERED["templates"] = list(DERIVED_TEMPLATES)
    return _REGISTERED


#: checked by name, so a stale registry entry that is not ours does not count
OUR_FORMATS = ("vsfa", "rejection_mix", "rejection_mix_keep_eos")


def status() -> dict:
    """What ``vsfa doctor`` reports for LLaMA-Factory, asked here so that only this package imports it.

    ``active``: LLaMA-Factory's registries hold our formats and templates in this process *and* the import
    hook put them there (or the hook is switched off, and the documented explicit import did) — importing
    this package registers too, so the registries alone would hide a broken hook. ``error``: why
    ``llamafactory.data`` could not be imported, if it could not.
    """
    from .. import autoload

    out = {"active": False, "hook": "", "formats": list(OUR_FORMATS), "templates": [], "error": ""}
    try:
        import llamafactory.data  # noqa: F401  (the hook registers on this import)
        from llamafactory.data.converter import DATASET_CONVERTERS
        from llamafactory.data.template import TEMPLATES

        from .templates import DERIVED_TEMPLATES
    except Exception as err:  # an import failure is exactly what doctor must report
        out["error"] = f"{type(err).__name__}: {err}"
        return out
    out["hook"] = autoload.STATUS.get("llamafactory.data", "not triggered")
    out["templates"] = list(DERIVED_TEMPLATES)
    ours = all(getattr(DATASET_CONVERTERS.get(name), "__module__", "").startswith("vsfa_plugins.")
               for name in OUR_FORMATS) and all(name in TEMPLATES for name in DERIVED_TEMPLATES)
    out["active"] = ours and (out["hook"] == "registered" or autoload.disabled())
    return out


register()
