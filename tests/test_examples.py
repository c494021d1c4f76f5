"""The shipped example data is exactly what vsfa_plugins.testing.examples writes, and it validates."""

import json

from conftest import EXAMPLE_DATA

from vsfa_plugins.testing.examples import DATASET_INFO, write_example_data
from vsfa_plugins.records import validate_file


def test_shipped_example_data_is_reproducible_byte_for_byte(tmp_path):
    written = write_example_data(str(tmp_path))
    for path in written:
        rel = path[len(str(tmp_path)) + 1 :]
        assert (EXAMPLE_DATA / rel).read_bytes() == open(path, "rb").read(), rel


def test_every_example_dataset_validates():
    info = json.loads((EXAMPLE_DATA / "dataset_info.json").read_text())
    assert info == DATASET_INFO
    schema = {"vsfa": "vsfa", "rejection_mix": "rejection_mix", "rejection_mix_keep_eos": "rejection_mix"}
    for entry in info.values():
        report = validate_file(str(EXAMPLE_DATA / entry["file_name"]), schema[entry["formatting"]])
        assert report.rows >= 6
