"""Crash-safe long jobs: ``kill -9`` at random points, then run again.

``wavetag prepare`` and ``wavetag train`` run as real processes (their own process group, so the
decode workers die with them) and are killed with SIGKILL at seeded random moments of an
uninterrupted run's span. Then: ``prepare`` rerun gives a pack whose content digest equals the
uninterrupted run's, with no temporary folder left behind; ``train --resume`` (or a fresh start
when the kill came before the first checkpoint) ends with bit-identical weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

KILLS = 3  # prepare runs killed (a second or two each)
TRAIN_KILLS = 2  # train runs killed: each costs a start-up and a resume (several seconds on 2 cores)
JOB_TIMEOUT_S = 300  # a run that hangs fails the test
SR = 8000
VOLATILE = ("created", "elapsed_s")  # pack.json fields that differ between any two runs


def wavetag(*args: str) -> list[str]:
    return [sys.executable, "-m", "wavetag", *args]


def run_to_end(cmd: list[str]) -> float:
    """Run ``cmd`` to completion (it must succeed); returns its wall time in seconds."""
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, env=_env(), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return time.monotonic() - started


def run_and_kill(cmd: list[str], after_s: float, *, once: Path | None = None) -> bool:
    """Start ``cmd`` and SIGKILL its process group ``after_s`` seconds later (counted from when
    ``once`` exists, if given: e.g. after the first checkpoint); True if it was killed."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), start_new_session=True
    )
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while once is not None and not once.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        proc.wait(timeout=after_s)
        return False  # finished before the kill
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=JOB_TIMEOUT_S)
        return True


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def kill_points(span_s: float, seed: int) -> list[float]:
    """`KILLS` seeded moments spread over ``span_s`` (from start-up to nearly the end)."""
    rng = np.random.default_rng(seed)
    return sorted(rng.uniform(0.3 * span_s, 0.85 * span_s, size=KILLS).tolist())


# ---------------------------------------------------------------------------- prepare


def make_source(root: Path, clips_per_class: int = 150) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    for label, freq in (("low", 300.0), ("mid", 900.0), ("high", 2500.0)):
        (root / label).mkdir(parents=True)
        for i in range(clips_per_class):
            x = 0.3 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t) + 0.02 * rng.standard_normal(SR)
            sf.write(root / label / f"s{i % 10}_nohash_{i}.wav", x.astype(np.float32), 44100 if i % 2 else SR)


def pack_digest(pack: Path) -> str:
    """sha256 of everything a pack holds, less the creation time and the elapsed seconds."""
    h = hashlib.sha256()
    for name in sorted(p.name for p in pack.iterdir()):
        data = (pack / name).read_bytes()
        if name == "pack.json":
            manifest = json.loads(data)
            data = json.dumps({k: v for k, v in manifest.items() if k not in VOLATILE}, sort_keys=True).encode()
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


@pytest.mark.slow
def test_prepare_killed_at_random_points_then_rerun_gives_the_same_pack(tmp_path):
    make_source(tmp_path / "src")
    args = ["prepare", str(tmp_path / "src"), "--sample-rate", str(SR), "--jobs", "2", "--no-progress", "-o"]
    span = run_to_end(wavetag(*args, str(tmp_path / "reference")))
    expected = pack_digest(tmp_path / "reference")
    killed = 0
    for k, after_s in enumerate(kill_points(span, seed=1)):
        out = tmp_path / f"killed-{k}"
        killed += run_and_kill(wavetag(*args, str(out)), after_s)
        assert not out.exists() or (out / "pack.json").is_file()  # never a half-written pack
        run_to_end(wavetag(*args, str(out)))
        assert pack_digest(out) == expected
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".killed-{k}")) == []  # no leftovers
    assert killed >= 1  # at least one kill landed mid-run


# ---------------------------------------------------------------------------- train


@pytest.mark.slow
def test_train_killed_at_random_points_then_resumed_gives_identical_weights(tmp_path):
    from safetensors.numpy import load_file

    make_source(tmp_path / "src", clips_per_class=24)
    run_to_end(
        wavetag(
            "prepare",
            str(tmp_path / "src"),
            "-o",
            str(tmp_path / "pack"),
            "--sample-rate",
            str(SR),
            "--clip-seconds",
            "0.5",
            "--jobs",
            "1",
            "--no-progress",
        )
    )
    (tmp_path / "quiet.yaml").write_text("tensorboard: false\n")
    args = [
        "train",
        str(tmp_path / "pack"),
        "--model",
        "ds_cnn_s",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--checkpoint-every-steps",
        "3",
        "--no-progress",
        "--seed",
        "3",
        "--config",
        str(tmp_path / "quiet.yaml"),
    ]
    started = time.monotonic()
    run_to_end(wavetag(*args, "-o", str(tmp_path / "reference")))
    span = time.monotonic() - started
    expected = load_file(str(tmp_path / "reference" / "last" / "model.safetensors"))
    rng = np.random.default_rng(2)
    killed = resumed = 0
    for k in range(TRAIN_KILLS):
        run = tmp_path / f"killed-{k}"
        # the first kill anywhere (often before any checkpoint), the others after the first checkpoint
        once = None if k == 0 else run / "last" / "config.json"
        killed += run_and_kill(
            wavetag(*args, "-o", str(run)),
            rng.uniform(0.3, 0.9) * span if k == 0 else rng.uniform(0.0, 0.3) * span,
            once=once,
        )
        if (run / "last" / "config.json").is_file():
            resumed += 1
            run_to_end(wavetag("train", "--resume", str(run), "--no-progress"))
        else:  # killed before the first checkpoint: nothing to resume, start again
            run_to_end(wavetag(*args, "-o", str(run), "--overwrite"))
        weights = load_file(str(run / "last" / "model.safetensors"))
        assert weights.keys() == expected.keys()
        assert all(np.array_equal(weights[name], expected[name]) for name in expected), f"kill {k}"
    assert killed >= 1 and resumed >= 1
