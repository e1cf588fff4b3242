"""``wavetag models``: the table, CSV and JSON listings of the model zoo."""

from __future__ import annotations

import csv
import io
import json

import pytest

from wavetag.cli import main
from wavetag.models import list_models
from wavetag.models.summary import frontend_short, human


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", *args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_json_rows_for_a_family(capsys):
    code, out, _ = run(capsys, "--family", "bc_resnet", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == list_models("bc_resnet")
    one = rows[0]
    assert one["params"] == 9_232 and one["macs"] == 2_482_156 and one["input_kind"] == "image"
    assert one["frontend"] == "logmel(n_mels=40)" and "arXiv 2106.04140" in one["source"]


def test_csv_and_num_classes(capsys):
    code, out, _ = run(capsys, "--family", "ds_cnn", "--format", "csv", "--num-classes", "35")
    assert code == 0
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(out))}
    assert int(rows["ds_cnn_s"]["params"]) == 23_180 + 64 * (35 - 12) + (35 - 12)


def test_table_lists_every_model(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:6] == ["name", "family", "input", "default", "front", "end"]
    for name in list_models():
        assert any(line.startswith(name + " ") for line in lines), name
    assert any(line.split()[:2] == ["resnet18", "*"] for line in lines)


def test_unknown_family_and_format(capsys):
    code, _, err = run(capsys, "--family", "bcresnet")
    assert code == 1 and "unknown model family 'bcresnet'; did you mean 'bc_resnet'" in err
    code, _, err = run(capsys, "--format", "xml")
    assert code == 1 and "--format" in err


def test_labels():
    assert human(9_232) == "9.23k" and human(85_919_328) == "85.9M" and human(999) == "999"
    assert (
        frontend_short({"name": "mfcc", "n_mfcc": 10, "n_mels": 40, "win_s": 0.04, "hop_s": 0.02})
        == "mfcc 10/40 40/20ms"
    )
    assert frontend_short({"name": "mulaw", "quantization_channels": 256, "one_hot": True}) == "mulaw 256 1-hot"
