"""``wavetag prepare``: options reach the library, the summary names what was written, errors are one line."""

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import wavetag.cli.prepare  # noqa: F401  (registers the command)
from wavetag.cli import main
from wavetag.cli.app import app
from wavetag.data import Pack


def make_source(root):
    for k, label in enumerate(["down", "up", "up"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        sf.write(str(root / label / f"{k}.wav"), np.full(8000 + 100 * k, k + 1, np.int16), 16000)
    (root / "up" / "bad.wav").write_bytes(b"not audio at all")


def test_prepare_command_writes_a_pack_and_a_summary(tmp_path):
    make_source(tmp_path / "src")
    args = [
        "prepare",
        str(tmp_path / "src"),
        "-o",
        str(tmp_path / "pack"),
        "--sample-rate",
        "8000",
        "--clip-seconds",
        "0.5",
        "--split",
        "random",
        "--fractions",
        "1,0,0",
        "--jobs",
        "1",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    pack = Pack.open(tmp_path / "pack")
    assert pack.sample_rate == 8000 and pack.clip_seconds == 0.5 and set(pack.index.length.tolist()) == {4000}
    out = result.output
    assert "clips per class and split" in out and "│ up " in out
    assert "wrote" in out and "3 clips" in out
    assert "rejected 1 files (unreadable: 1)" in out and "rejected.csv" in out
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "up to date" in again.output


def test_prepare_command_error_is_one_line_and_exit_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", str(tmp_path / "nope"), "-o", str(tmp_path / "pack"), "--no-progress"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "source not found" in err and "\n" not in err


def test_bad_fractions_flag(tmp_path, capsys):
    make_source(tmp_path / "src")
    with pytest.raises(SystemExit):
        main(["prepare", str(tmp_path / "src"), "-o", str(tmp_path / "p"), "--fractions", "0.8,x", "--no-progress"])
    assert "--fractions '0.8,x': expected three numbers" in capsys.readouterr().err
