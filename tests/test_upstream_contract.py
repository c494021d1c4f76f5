"""Fails loudly when LLaMA-Factory moves an internal that vsfa_plugins.llamafactory.upstream relies on.

If one of these breaks after an upgrade: pin llamafactory==0.9.5 again, or update upstream.py.
"""

from __future__ import annotations

import inspect

import llamafactory.data  # noqa: F401  (the import hook registers on this)
from llamafactory.data import collator, converter, loader, parser
from llamafactory.data.processor import supervised, unsupervised
from llamafactory.extras import constants

from vsfa_plugins.llamafactory import eos, upstream


def test_ignore_index_is_what_eos_masking_writes():
    assert constants.IGNORE_INDEX == eos.IGNORE_INDEX == -100


def test_loader_wrap_is_installed_and_signature_unchanged():
    wrapped = loader._load_single_dataset
    assert getattr(wrapped, "__vsfa_patched__", False)
    original = wrapped.__wrapped__
    assert tuple(inspect.signature(original).parameters) == ("dataset_attr", "model_args", "data_args", "training_args")
    # _get_merged_dataset must look the function up at call time (module global), or our wrap is bypassed
    assert "_load_single_dataset(" in inspect.getsource(loader._get_merged_dataset)


def test_encode_wrap_is_installed_on_the_processors_that_tokenize_sft():
    for cls in (supervised.SupervisedDatasetProcessor, supervised.PackedSupervisedDatasetProcessor):
        method = cls._encode_data_example
        assert getattr(method, "__vsfa_patched__", False), cls
        assert tuple(inspect.signature(method.__wrapped__).parameters) == upstream.EXPECTED_ENCODE_PARAMS
    assert getattr(unsupervised.UnsupervisedDatasetProcessor._encode_data_example, "__vsfa_patched__", False)
    # the processor passes the aligned `_tools` column to the encoder: that is where the EOS mark rides
    assert 'tools=examples["_tools"][i]' in inspect.getsource(supervised.SupervisedDatasetProcessor.preprocess_dataset)


def test_converter_registry_api():
    assert tuple(inspect.signature(converter.register_dataset_converter).parameters) == ("name", "dataset_converter")
    assert {"vsfa", "rejection_mix", "rejection_mix_keep_eos"} <= set(converter.DATASET_CONVERTERS)
    assert [f for f in converter.DatasetConverter.__dataclass_fields__] == ["dataset_attr", "data_args"]


def test_dataset_info_whitelist_still_drops_unknown_keys():
    """Why our options are format names / env vars: dataset_info.json entries keep whitelisted keys only."""
    attr = parser.DatasetAttr("file", dataset_name="x.json")
    attr.join({"formatting": "vsfa", "mask_eos": False, "media_dir": "/elsewhere"})
    assert attr.formatting == "vsfa"
    assert not hasattr(attr, "mask_eos") and not hasattr(attr, "media_dir")


def test_collator_still_guards_image_free_batches_for_zero3():
    """The ZeRO-3 mixed-modality hang is avoided by this upstream guard (see upstream._log_report)."""
    source = inspect.getsource(collator.MultiModalDataCollatorForSeq2Seq.__call__)
    assert "fake_images" in source and "avoid process hanging in zero3/fsdp case" in source


def test_doctor_names_match_what_register_adds():
    from vsfa_plugins.llamafactory.formats import CONVERTERS
    from vsfa_plugins.llamafactory.templates import DERIVED_TEMPLATES

    import vsfa_plugins.llamafactory as ours

    st = ours.status()
    assert ours.OUR_FORMATS == tuple(CONVERTERS) and st["templates"] == list(DERIVED_TEMPLATES)
    assert st["active"] and not st["error"]
