"""Training loop: run directory, determinism, exact resume, checkpoint safety, errors, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from wavetag.config import config_from_dict, merge_dicts
from wavetag.data import prepare
from wavetag.errors import CheckpointError, ConfigError
from wavetag.models import Classifier, load_model_dir
from wavetag.train import TrainConfig, TrainingError, train
from wavetag.train import checkpoint as ckpt_module
from wavetag.train import loop as loop_module

SR = 8000


@pytest.fixture(scope="module")
def tone_pack(tmp_path_factory) -> Path:
    """3 classes of tones (300/900/2500 Hz), 30 clips each of 0.5 s at 8 kHz, 6 speakers."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    t = np.arange(SR // 2) / SR
    for label, freq in (("low", 300), ("mid", 900), ("high", 2500)):
        (root / "src" / label).mkdir(parents=True)
        for i in range(30):
            x = 0.3 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t) + 0.02 * rng.standard_normal(len(t))
            sf.write(root / "src" / label / f"spk{i % 6}_nohash_{i}.wav", x.astype(np.float32), SR, subtype="PCM_16")
    prepare(root / "src", root / "pack", sample_rate=SR, clip_seconds=0.5, jobs=1, progress=False)
    return root / "pack"


def tiny_config(**overrides) -> TrainConfig:
    base = {
        "model": "ds_cnn_s",
        "epochs": 2,
        "batch_size": 16,
        "threads": 1,
        "tensorboard": False,
        "frontend": {"name": "logmel", "n_mels": 20, "normalize": "utterance"},
        "augment": {"background_noise": {"p": 0.0}},
        "optimizer": {"lr": 3e-3},
    }
    return config_from_dict(TrainConfig, merge_dicts(base, overrides))


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def test_run_directory_has_everything(tone_pack, tmp_path):
    result = train(tone_pack, tiny_config(tensorboard=True), tmp_path / "run", progress=False, verbose=False)
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "history.csv",
        "best/config.json",
        "best/model.safetensors",
        "last/model.safetensors",
        "last/train_state.json",
        "last/optimizer.safetensors",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    assert len(result.history) == 2 and result.global_step == 2 * result.history[0]["step"]
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(result.history[0])


def test_same_seed_same_weights(tone_pack, tmp_path):
    train(tone_pack, tiny_config(), tmp_path / "a", progress=False, verbose=False)
    train(tone_pack, tiny_config(), tmp_path / "b", progress=False, verbose=False)
    assert_same_weights(tmp_path / "a" / "last", tmp_path / "b" / "last")


class _Killed(Exception):
    """Stands for the process being killed at a chosen step."""


def train_killed_then_resumed(pack, config, run_dir: Path, monkeypatch, *, killed_at_batch: int):
    """Train ``config`` on ``pack`` into ``run_dir``, "killed" when the loop asks for batch number
    ``killed_at_batch`` (1-based), then resume it to the end; returns the resumed run's result."""
    real = loop_module.make_batch
    calls = {"n": 0}

    def dying_make_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == killed_at_batch:
            raise _Killed()
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, "make_batch", dying_make_batch)
    with pytest.raises(_Killed):
        train(pack, config, run_dir, progress=False, verbose=False)
    monkeypatch.setattr(loop_module, "make_batch", real)
    return train(pack, None, run_dir, resume=True, progress=False, verbose=False)


def test_resume_after_kill_is_exact(tone_pack, tmp_path, monkeypatch):
    config = tiny_config(epochs=3, checkpoint_every_steps=2, augment={"mixup": {"alpha": 0.3}})
    train(tone_pack, config, tmp_path / "whole", progress=False, verbose=False)
    # killed at batch 8: epoch 2, after the mid-epoch checkpoint at step 6
    result = train_killed_then_resumed(tone_pack, config, tmp_path / "killed", monkeypatch, killed_at_batch=8)
    assert result.global_step == 3 * 5
    assert_same_weights(tmp_path / "whole" / "last", tmp_path / "killed" / "last")
    rows = (tmp_path / "killed" / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # header + one row per epoch, none doubled


def test_failed_checkpoint_write_keeps_previous(tone_pack, tmp_path, monkeypatch):
    real = ckpt_module.save_file
    calls = {"n": 0}

    def save_then_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the checkpoint after epoch 2 dies half-written
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(ckpt_module, "save_file", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        train(tone_pack, tiny_config(epochs=2), tmp_path / "run", progress=False, verbose=False)
    found = ckpt_module.find_checkpoint(tmp_path / "run")
    assert found.name == "last"
    state = json.loads((found / "train_state.json").read_text())
    assert state["epoch"] == 1  # the previous checkpoint survived whole
    load_model_dir(found)
    monkeypatch.setattr(ckpt_module, "save_file", real)
    result = train(tone_pack, None, tmp_path / "run", resume=True, progress=False, verbose=False)
    assert result.epochs_done == 2


def test_nan_loss_names_step_and_lr(tone_pack, tmp_path, monkeypatch):
    real = Classifier.loss
    calls = {"n": 0}

    def nan_loss(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(Classifier, "loss", nan_loss)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step 2 \(learning rate .*\)"):
        train(tone_pack, tiny_config(), tmp_path / "run", progress=False, verbose=False)


def test_pack_at_other_rate_than_front_end(tone_pack, tmp_path):
    config = tiny_config(frontend={"name": "logmel", "n_mels": 20, "sample_rate": 16000})
    with pytest.raises(ConfigError, match="16000 Hz but the pack .* is at 8000 Hz"):
        train(tone_pack, config, tmp_path / "run", progress=False, verbose=False)


def test_model_input_kind_must_fit_front_end(tone_pack, tmp_path):
    with pytest.raises(ConfigError, match="cnn1d"):
        train(tone_pack, tiny_config(model="cnn1d"), tmp_path / "run", progress=False, verbose=False)


def test_unknown_model_and_option_suggest(tone_pack, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'ds_cnn_s'"):
        train(tone_pack, tiny_config(model="ds_cnn_z"), tmp_path / "run", progress=False, verbose=False)
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        config_from_dict(TrainConfig, {"epoch": 3})


def test_resume_of_missing_or_half_written_run(tone_pack, tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        train(tone_pack, None, tmp_path / "nothing", resume=True, progress=False, verbose=False)
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.yaml").write_text("model: ds_cnn_s\n")
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train(tone_pack, None, half, resume=True, progress=False, verbose=False)


def test_existing_run_is_not_overwritten_silently(tone_pack, tmp_path):
    train(tone_pack, tiny_config(epochs=1), tmp_path / "run", progress=False, verbose=False)
    with pytest.raises(ConfigError, match="--resume .* --overwrite"):
        train(tone_pack, tiny_config(epochs=1), tmp_path / "run", progress=False, verbose=False)


def test_learning_rate_schedule_shape():
    from wavetag.train.config import ScheduleConfig
    from wavetag.train.schedule import lr_at

    cfg = ScheduleConfig(name="cosine", warmup_epochs=1.0)
    lrs = [lr_at(s, total_steps=100, steps_per_epoch=10, peak_lr=1.0, config=cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False)) and lrs[-1] < 0.01
    one = [
        lr_at(s, total_steps=100, steps_per_epoch=10, peak_lr=1.0, config=ScheduleConfig(name="onecycle"))
        for s in range(100)
    ]
    assert max(one) == pytest.approx(1.0, rel=1e-3) and one[0] < 0.05 and one[-1] < 0.01


@pytest.mark.slow
def test_two_process_ddp_shards_differ_and_weights_agree(tone_pack, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, os, sys
        import numpy as np, torch
        from safetensors.torch import save_file
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_train import tiny_config
        from wavetag.train import loop, train
        seen = []
        real = loop.make_batch
        def spy(pack, rows, **kw):
            seen.extend(int(r) for r in rows)
            return real(pack, rows, **kw)
        loop.make_batch = spy
        captured = {{}}
        real_forward = loop._TrainForward
        class Keep(real_forward):
            def __init__(self, model, spec):
                super().__init__(model, spec)
                captured["model"] = model
        loop._TrainForward = Keep
        train({str(tone_pack)!r}, tiny_config(epochs=1), {str(tmp_path / "run")!r}, progress=False)
        rank = int(os.environ["RANK"])
        state = {{k: v.contiguous() for k, v in captured["model"].state_dict().items()}}
        save_file(state, {str(tmp_path)!r} + f"/rank{{rank}}.safetensors")
        json.dump(seen, open({str(tmp_path)!r} + f"/seen{{rank}}.json", "w"))
    """)
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", str(script)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    seen0, seen1 = (json.loads((tmp_path / f"seen{r}.json").read_text()) for r in (0, 1))
    assert len(seen0) == len(seen1) and set(seen0) != set(seen1)
    assert len(set(seen0) & set(seen1)) <= 1  # disjoint shards (one clip may repeat as padding)
    w0, w1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for key in w0:
        assert torch.allclose(w0[key], w1[key], atol=1e-6), key


def test_bf16_autocast_trains_and_saves_float32(tone_pack, tmp_path):
    result = train(tone_pack, tiny_config(epochs=1, bf16=True), tmp_path / "run", progress=False, verbose=False)
    assert np.isfinite(result.history[0]["train_loss"])
    assert all(t.dtype == torch.float32 for k, t in weights(tmp_path / "run" / "last").items() if t.is_floating_point())


def test_bf16_auto_follows_the_cpu_and_other_values_are_refused(monkeypatch):
    from wavetag.train import config as config_module

    for native in (True, False):
        monkeypatch.setattr(config_module, "native_bf16", lambda native=native: native)
        assert TrainConfig(bf16="auto").use_bf16 is native
        assert TrainConfig(bf16=True).use_bf16 and not TrainConfig(bf16=False).use_bf16
    with pytest.raises(ConfigError, match="bf16"):
        config_from_dict(TrainConfig, merge_dicts({}, {"bf16": "sometimes"})).validate()


def test_class_weights_balanced_sampler_and_step_validation(tone_pack, tmp_path):
    config = tiny_config(
        epochs=1, class_weights=True, balanced_sampler=True, eval_every_steps=2, keep_best_by="val_accuracy"
    )
    result = train(tone_pack, config, tmp_path / "run", progress=False, verbose=False)
    steps = [row["step"] for row in result.history]
    assert steps[:2] == [2, 4] and steps[-1] == result.global_step  # every 2 steps, then the epoch end
    best = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["best"]
    assert "val_accuracy" in best


def test_time_budget_stops_the_run(tone_pack, tmp_path):
    result = train(
        tone_pack, tiny_config(epochs=500, max_train_seconds=1.0), tmp_path / "run", progress=False, verbose=False
    )
    assert result.stopped_early and result.epochs_done < 500


def test_spec_augment_leaves_waveform_models_alone(tone_pack):
    from wavetag.augment import AugmentConfig, build_augment
    from wavetag.models import create_model

    model = create_model("cnn1d", num_classes=3, sample_rate=SR, clip_seconds=0.5)
    aug = build_augment(AugmentConfig(), sample_rate=SR)
    seen = {}
    model.backbone.register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0].clone()))
    wav = torch.randn(4, 1, SR // 2)
    loop_module._TrainForward(model, aug.spec)(wav, torch.Generator().manual_seed(0))
    assert torch.equal(seen["x"], model.frontend(wav))


def test_training_summary_names_the_augmentations_and_masks_that_reach_nothing(tone_pack, tmp_path, capsys):
    masks = {"spec_augment": {"p": 0.5}, "reverb": {"p": 0.25}}

    def summary_line() -> str:  # the console writes to stderr and wraps long lines
        text = " ".join(capsys.readouterr().err.split())
        return text[text.index("augmentation:") : text.index("epoch 1 step")]

    train(tone_pack, tiny_config(epochs=1, augment=masks), tmp_path / "cnn", progress=False, verbose=True)
    line = summary_line()
    assert "time_shift (p 1)" in line and "reverb (p 0.25)" in line and "spec_augment (p 0.5)" in line
    assert "background_noise" not in line and "masks nothing" not in line
    waveform = tiny_config(epochs=1, model="cnn1d", augment=masks)
    waveform.frontend = {"name": "waveform"}
    train(tone_pack, waveform, tmp_path / "wave", progress=False, verbose=True)
    line = summary_line()
    assert "spec_augment (p" not in line and "no front end gives spectrogram features" in line


def test_spec_augment_reaches_each_spectrogram_member_of_an_ensemble():
    """An ensemble's front end is the waveform: the masks must reach the members' own log-mels
    (each its own draw), leave a waveform member alone, and give the ensemble's logits."""
    from wavetag.augment import AugmentConfig, SpecAugmentConfig, build_augment
    from wavetag.models import create_model

    members = [
        {"name": "ds_cnn_s", "frontend": {"name": "logmel"}},
        {"name": "cnn1d"},
        {"name": "ds_cnn_s", "frontend": {"name": "logmel"}},
    ]
    model = create_model("ensemble", num_classes=3, sample_rate=SR, clip_seconds=0.5, members=members).eval()
    masks = SpecAugmentConfig(p=1.0, time_masks=0, freq_masks=2, freq_mask_width=20, mask_value="zero")
    config = AugmentConfig(spec_augment=masks)
    config.background_noise.p = 0.0
    aug = build_augment(config, sample_rate=SR)
    seen = {}
    for i, m in enumerate(model.members):
        m.backbone.register_forward_pre_hook(lambda _m, args, i=i: seen.setdefault(i, args[0].clone()))
    wav = torch.randn(8, 1, SR // 2)
    logits = loop_module._TrainForward(model, aug.spec)(wav, torch.Generator().manual_seed(0))
    masked = {}
    for i in (0, 2):
        clean = model.members[i].frontend(wav)  # (B, 1, F, frames), no zeros of its own
        assert seen[i].shape == clean.shape and torch.count_nonzero(clean) == clean.numel()
        masked[i] = seen[i] == 0
        assert torch.equal(torch.where(masked[i], 0.0, clean), seen[i])  # masked cells are zero, others kept
        rows = masked[i].all(dim=-1)  # (B, 1, F): frequency masks cover whole bins
        assert torch.equal(masked[i].any(dim=-1), rows) and rows.any()
    assert not torch.equal(masked[0], masked[2])  # each member its own draw
    assert torch.equal(seen[1], model.members[1].frontend(wav))  # the waveform member untouched
    with torch.no_grad():
        feats = torch.cat([m.backbone(x) for m, x in zip(model.members, (seen[0], seen[1], seen[2]), strict=True)], -1)
        assert torch.allclose(logits, model.forward_head(feats))
        aug.spec.eval()  # no masks: the training forward is the ensemble's own
        assert torch.allclose(
            loop_module._TrainForward(model, aug.spec)(wav, torch.Generator().manual_seed(0)), model(wav), atol=1e-6
        )


def test_train_state_reads_checkpoints_written_before_it_was_a_dataclass():
    from wavetag.train.loop import TrainState

    old = {"epoch": 2, "step_in_epoch": 1, "global_step": 11, "best_metric": 0.5, "best_epoch": 2}
    state = TrainState.from_dict({**old, "bad_validations": 1, "stopped_early": False, "extra": "ignored"})
    assert state.best_monitor is None and state.global_step == 11
    assert TrainState.from_dict(state.to_dict()) == state


def test_train_help_states_the_config_defaults():
    """The defaults `wavetag train --help` states are TrainConfig's (the help cannot import it:
    `wavetag --help` stays free of torch), so they are checked here."""
    import re

    import typer

    from wavetag.cli import _load_commands

    command = typer.main.get_command(_load_commands()).commands["train"]
    fields = {
        "--model": "model",
        "--epochs": "epochs",
        "--batch-size": "batch_size",
        "--optimizer": "optimizer.name",
        "--lr": "optimizer.lr",
        "--weight-decay": "optimizer.weight_decay",
        "--schedule": "schedule.name",
        "--warmup-epochs": "schedule.warmup_epochs",
        "--label-smoothing": "label_smoothing",
        "--mixup": "augment.mixup.alpha",
        "--talk": "talk.p_unknown",
        "--keep-best-by": "keep_best_by",
        "--monitor": "monitor",
        "--seed": "seed",
    }
    stated = {}
    for param in command.params:
        found = re.search(r"\[default: ([^]]+)\]", param.help or "")
        for opt in param.opts:
            if opt in fields and found:
                stated[opt] = found.group(1)
    assert set(stated) == set(fields)
    config = TrainConfig()
    for opt, path in fields.items():
        value = config
        for part in path.split("."):
            value = getattr(value, part)
        text = stated[opt]
        assert (float(text) == value) if isinstance(value, (int, float)) else (text == value), (opt, text, value)


def test_detection_hop_is_stored_with_the_thresholds(tone_pack, tmp_path):
    from wavetag.inference.predictor import Predictor
    from wavetag.inference.thresholds import model_hop_s

    train(tone_pack, tiny_config(epochs=1, detection_hop_s=0.2), tmp_path / "run", progress=False, verbose=False)
    stored = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["detection"]
    assert stored["hop_s"] == 0.2
    predictor = Predictor.load(tmp_path / "run" / "best")
    assert model_hop_s(predictor) == 0.2 and model_hop_s(predictor, 0.05) == 0.05  # re-tuning keeps it
    with pytest.raises(ConfigError, match="detection_hop_s = 0.8 is longer than the model's window"):
        train(tone_pack, tiny_config(detection_hop_s=0.8), tmp_path / "bad", progress=False, verbose=False)
    assert not (tmp_path / "bad").exists()
