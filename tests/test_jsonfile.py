"""The one JSON reader: every failure is the caller's error class, naming the file."""

from __future__ import annotations

import pytest

from wavetag.errors import CheckpointError, ConfigError, DataError
from wavetag.jsonfile import read_json, read_json_beside


def test_reads_an_object(tmp_path):
    (tmp_path / "a.json").write_text('{"x": [1, 2]}')
    assert read_json(tmp_path / "a.json") == {"x": [1, 2]}


def test_truncated_file_names_the_file_and_the_advice(tmp_path):
    (tmp_path / "pack.json").write_text('{"format": ')
    with pytest.raises(DataError, match=r"pack\.json: not valid JSON \(.*\); rebuild it"):
        read_json(tmp_path / "pack.json", advice="rebuild it")


def test_not_an_object_and_not_utf8(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"list\.json: expected a JSON object, found list"):
        read_json(tmp_path / "list.json", error=ConfigError)
    assert read_json(tmp_path / "list.json", expect_object=False) == [1, 2]
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(CheckpointError, match=r"bin\.json: not valid JSON"):
        read_json(tmp_path / "bin.json", error=CheckpointError)


def test_missing_file_and_config_beside_weights(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json: cannot be read"):
        read_json(tmp_path / "nope.json")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    assert read_json_beside(weights, error=CheckpointError) == {}
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    assert read_json_beside(weights, error=CheckpointError) == {"hidden_size": 8}
    assert read_json_beside(tmp_path, error=CheckpointError) == {"hidden_size": 8}
