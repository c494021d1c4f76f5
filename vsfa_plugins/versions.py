"""The dependency ranges vsfa-plugins is tested on, read back from its installed metadata (the
``dependencies`` of ``pyproject.toml``: one place), and whether the installed versions meet them.

``.ci/install-routes.sh`` tests the ends of these ranges (the oldest supported LLaMA-Factory + lmms-eval pair
and the unconstrained latest resolve); ``vsfa doctor`` prints :func:`check_ranges` so a lab sees at once
whether its own versions are inside what was tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

DIST = "vsfa-plugins"


@dataclass
class RangeCheck:
    name: str
    spec: str  # e.g. ">=0.9.4,<0.10"
    installed: str | None  # None: not installed

    @property
    def ok(self) -> bool:
        if self.installed is None:
            return False
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(self.spec).contains(self.installed, prereleases=True)

    def line(self) -> str:
        if self.installed is None:
            return f"{self.name} {self.spec}: NOT INSTALLED"
        verdict = "in tested range" if self.ok else "OUTSIDE the tested range"
        return f"{self.name} {self.installed} {verdict} ({self.spec or 'any'})"


def check_ranges() -> list[RangeCheck]:
    """One :class:`RangeCheck` per (non-extra) requirement of the installed vsfa-plugins that has a version
    range; ``[]`` when vsfa-plugins' metadata is not installed (running from a bare checkout)."""
    from packaging.requirements import Requirement

    try:
        requires = metadata.requires(DIST) or []
    except metadata.PackageNotFoundError:
        return []
    checks = []
    for text in requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra ([test]) or another platform
        if not str(req.specifier):
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            installed = None
        checks.append(RangeCheck(req.name, str(req.specifier), installed))
    return checks


#: always named by ``vsfa doctor``: the ranges a lab's own install is most likely to leave
KEY_PACKAGES = ("llamafactory", "lmms-eval", "filelock")


def summary_lines() -> list[str]:
    """What ``vsfa doctor`` prints: the key packages' ranges, every range not met, and a count."""
    checks = check_ranges()
    if not checks:
        return ["tested ranges: vsfa-plugins' metadata is not installed (pip install -e . or the wheel)"]
    shown = [c for c in checks if c.name in KEY_PACKAGES or not c.ok]
    bad = sum(not c.ok for c in checks)
    head = (f"tested ranges: all {len(checks)} met" if not bad
            else f"tested ranges: {bad} of {len(checks)} NOT met (untested combination; see .ci/install-routes.sh)")
    return [head] + [f"  {c.line()}" for c in shown]
