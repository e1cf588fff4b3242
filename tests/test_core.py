"""Registry, config and CLI plumbing."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from wavetag.cli import main
from wavetag.config import (
    check_range,
    config_from_dict,
    config_to_dict,
    load_yaml,
    merge_dicts,
    save_yaml,
)
from wavetag.errors import AudioError, ConfigError, WavetagError
from wavetag.registry import Registry


def test_registry_registers_and_suggests():
    reg = Registry("model")
    reg.register("bc_resnet_1", family="bc_resnet")(lambda: 1)
    assert reg.get("bc_resnet_1")() == 1
    assert reg.meta("bc_resnet_1") == {"family": "bc_resnet"}
    with pytest.raises(ConfigError, match=r"unknown model 'bcresnet_1'; did you mean 'bc_resnet_1'"):
        reg.get("bcresnet_1")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("bc_resnet_1")(lambda: 2)


@dataclass
class _Inner:
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class _Outer:
    epochs: int = 3
    name: str = "x"
    inner: _Inner = field(default_factory=_Inner)


def test_config_round_trip_through_yaml(tmp_path):
    cfg = _Outer(epochs=5, inner=_Inner(lr=0.01, betas=(0.5, 0.6)))
    save_yaml(config_to_dict(cfg), tmp_path / "c.yaml")
    assert config_from_dict(_Outer, load_yaml(tmp_path / "c.yaml")) == cfg


def test_config_none_means_default_and_unknown_key_is_named():
    assert config_from_dict(_Outer, {"epochs": None}).epochs == 3
    with pytest.raises(ConfigError, match=r"unknown field in inner 'lrr'; did you mean 'lr'"):
        config_from_dict(_Outer, {"inner": {"lrr": 1}})


def test_merge_precedence():
    assert merge_dicts({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 4}, "a": None}) == {"a": 1, "b": {"c": 4, "d": 3}}


def test_check_range_names_field():
    with pytest.raises(ConfigError, match=r"snr_db = 100 is out of range \(expected -20 <= snr_db <= 60\)"):
        check_range("snr_db", 100, -20, 60)


def test_yaml_errors_name_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_error_hierarchy():
    assert issubclass(AudioError, WavetagError) and issubclass(ConfigError, WavetagError)


def test_cli_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip().startswith("wavetag ")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "info" in out and "frontends" in out


def test_cli_wavetag_error_is_one_line_exit_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "nope.wav")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nope.wav: no such file" in err and "\n" not in err


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "wavetag", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("wavetag ")


def test_every_command_has_help(capsys):
    from wavetag.cli import _load_commands

    app = _load_commands()
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert command.help, f"command {name} has no help text"
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
    capsys.readouterr()


def test_public_api_names_resolve():
    import wavetag
    from wavetag.evaluate import evaluate
    from wavetag.train import train

    for name in ("Predictor", "prepare", "train_config", "create_model", "list_models"):
        assert callable(getattr(wavetag, name)), name
    assert callable(train) and callable(evaluate)
    assert wavetag.train_config("kws", epochs=3).epochs == 3
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        wavetag.nope  # noqa: B018
