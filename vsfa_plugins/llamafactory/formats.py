"""The ``vsfa`` and ``rejection_mix`` dataset formats, as LLaMA-Factory dataset converters.

Use in a ``dataset_info.json`` entry with nothing but the file and the format::

    "vsfa_demo": {"file_name": "vsfa_demo.json", "formatting": "vsfa"}
    "rmix_demo": {"file_name": "rmix_demo.jsonl", "formatting": "rejection_mix"}

Row schemas: :mod:`vsfa_plugins.records.schema`. LLaMA-Factory keeps only whitelisted keys of a
``dataset_info.json`` entry, so options travel as format names or environment variables:

* ``rejection_mix``          — EOS after a rejection reply is *not* trained (the paper's code); instruct
                               rows keep their EOS.
* ``rejection_mix_keep_eos`` — every row trains its EOS (ablation / the option to turn masking off).
* ``VSFA_ALLOW_PATH_ESCAPE=1`` — allow relative image paths that climb out of the dataset root with ``..``.

Unlike the stock converters, a bad row is never skipped with a warning: it raises naming the file and
row (the whole file is validated with line numbers before LLaMA-Factory loads it, see ``upstream``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from llamafactory.data.converter import DatasetConverter

from ..records import ImageChecker, RecordError, parse_record
from ..records.images import ALLOW_ESCAPE_ENV, escape_allowed_by_env
from . import eos


def _code_fingerprint() -> str:
    """Hash of the code that shapes converted rows and labels.

    ``datasets`` caches ``map`` results under a fingerprint of the mapped callable, and pickles our
    converter class *by reference*: without this field an edit of our code (or of an env option) would
    silently reuse a stale cache.
    """
    from .. import __version__
    from ..records import conversation, images, schema

    digest = hashlib.sha256(__version__.encode())
    for module in (schema, conversation, images, eos):
        with open(module.__file__, "rb") as f:
            digest.update(f.read())
    with open(__file__, "rb") as f:
        digest.update(f.read())
    return digest.hexdigest()[:16]


def local_dataset_path(dataset_attr, data_args) -> str:
    """Where LLaMA-Factory reads a ``load_from == "file"`` dataset: a file or a folder of files."""
    return os.path.join(data_args.dataset_dir, dataset_attr.dataset_name)


def dataset_roots(dataset_attr, data_args) -> list[str]:
    """Folders relative image paths resolve against: the dataset file's folder, then ``media_dir``."""
    roots = []
    if dataset_attr.load_from == "file":
        local = local_dataset_path(dataset_attr, data_args)
        roots.append(local if os.path.isdir(local) else os.path.dirname(local))
    if data_args.media_dir:
        roots.append(data_args.media_dir)
    return roots


def allow_path_escape() -> bool:
    return escape_allowed_by_env()


def _image_checker(roots: list, allow_escape: bool) -> ImageChecker:
    """The one image checker, resolving paths only: the whole file's images were checked (header, pixel
    limit, symlink escape) by the pre-load validation with the same rules (``upstream``)."""
    return ImageChecker(roots, check="exists", allow_escape=allow_escape)


@dataclass
class _VsfaPluginConverter(DatasetConverter):
    fmt: str = field(init=False, default="")
    mask_rejection_eos: bool = field(init=False, default=False)
    code_fingerprint: str = field(init=False, default="")
    allow_escape: bool = field(init=False, default=False)
    roots: list = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.code_fingerprint = _code_fingerprint()
        self.allow_escape = allow_path_escape()
        self.roots = dataset_roots(self.dataset_attr, self.data_args)
        self._resolver = _image_checker(self.roots, self.allow_escape)

    def __getstate__(self):  # keep the pickled state (and so the datasets fingerprint) to plain fields
        state = dict(self.__dict__)
        state.pop("_resolver", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._resolver = _image_checker(self.roots, self.allow_escape)

    def __call__(self, example: dict[str, Any]) -> dict[str, Any]:
        where = f"dataset {self.dataset_attr.dataset_name!r} ({self.fmt})"
        record = parse_record(example, self.fmt, where)
        messages = record.chat()
        images = None
        if record.uses_images:
            row_where = where + (f" (id={record.id})" if record.id is not None else "")
            images = [self._resolver.resolve(p, row_where) for p in record.images]
        tools = ""
        if self.mask_rejection_eos and record.kind == "rejection":
            tools = eos.MASK_EOS_MARKER
        return {
            "_prompt": messages[:-1],
            "_response": messages[-1:],
            "_system": record.system,
            "_tools": tools,
            "_images": images,
            "_videos": None,
            "_audios": None,
        }


@dataclass
class VsfaDatasetConverter(_VsfaPluginConverter):
    """Neutral VQA about threat-related images (VSFA), with the image/text/mixed modality ablation."""

    def __post_init__(self) -> None:
        self.fmt = "vsfa"
        super().__post_init__()


@dataclass
class RejectionMixDatasetConverter(_VsfaPluginConverter):
    """Benign prompts answered by the fixed refusal, mixed with instruct rows; rejection EOS masked."""

    def __post_init__(self) -> None:
        self.fmt = "rejection_mix"
        self.mask_rejection_eos = True
        super().__post_init__()


@dataclass
class RejectionMixKeepEosConverter(_VsfaPluginConverter):
    """As ``rejection_mix`` but the EOS after the refusal is trained too."""

    def __post_init__(self) -> None:
        self.fmt = "rejection_mix"
        super().__post_init__()


#: format name (the ``formatting`` value in dataset_info.json) -> (converter, row schema)
CONVERTERS = {
    "vsfa": VsfaDatasetConverter,
    "rejection_mix": RejectionMixDatasetConverter,
    "rejection_mix_keep_eos": RejectionMixKeepEosConverter,
}
SCHEMA_OF = {"vsfa": "vsfa", "rejection_mix": "rejection_mix", "rejection_mix_keep_eos": "rejection_mix"}

__all__ = ["CONVERTERS", "SCHEMA_OF", "RecordError", "dataset_roots", "allow_path_escape"]
