"""``compare``: train several models on the same pack, split and budget; one leaderboard.

Each model gets the same `TrainConfig` except its name. With a time budget (``minutes``), a
short probe measures each model's training speed and its epoch count is set so the whole
schedule (warm-up + cosine) fits the budget; ``max_train_seconds`` is the hard stop.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.config import check_range
from wavetag.data.dataset import make_batch
from wavetag.data.pack import Pack
from wavetag.errors import ConfigError
from wavetag.evaluate.leaderboard import LeaderboardPaths, write_leaderboard
from wavetag.evaluate.run import evaluate
from wavetag.models import list_models
from wavetag.registry import unknown_name_message
from wavetag.train.config import TrainConfig
from wavetag.train.loop import build_model, build_optimizer, train

PROBE_STEPS = 6


@dataclass
class CompareResult:
    rows: list[dict[str, Any]]
    leaderboard: LeaderboardPaths
    out_dir: Path


def compare(
    pack: str | Path | Pack,
    models: list[str],
    *,
    out_dir: str | Path = "runs/compare",
    config: TrainConfig | None = None,
    minutes: float | None = None,
    split: str = "test",
    progress: bool = True,
) -> CompareResult:
    """Train and evaluate each of ``models``; returns the leaderboard rows (best first).

    ``config`` supplies everything but the model (its ``epochs`` is the budget unless
    ``minutes`` is given: then each model trains for about ``minutes`` of wall time).
    """
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    config = config or TrainConfig()
    known = list_models()
    if not models:
        raise ConfigError("--models is empty; name at least one model, e.g. --models ds_cnn_s,bc_resnet_1")
    for name in models:
        if name not in known:
            raise ConfigError(unknown_name_message("model", name, known))
    if len(set(models)) != len(models):
        raise ConfigError(f"--models lists a model twice: {models}")
    if minutes is not None:
        check_range("minutes", minutes, 0.05, 10000)
    out = Path(out_dir)
    rows = []
    for name in models:
        cfg = dataclasses.replace(config, model=name)
        if minutes is not None:
            cfg = dataclasses.replace(cfg, epochs=epochs_for_budget(cfg, pack, minutes * 60), max_train_seconds=minutes * 60 * 1.1)
        t0 = time.perf_counter()
        result = train(pack, cfg, out / name, overwrite=True, progress=progress)
        seconds = time.perf_counter() - t0
        ev = evaluate(out / name, pack, split=split)
        model = _load(out / name / "best")
        m = ev.metrics
        rows.append({
            "model": name,
            "metric": m["task_metric"]["value"],
            "macro_f1": m["overall"].get("macro_f1"),
            "params": model.num_params(),
            "macs": model.macs(model.clip_seconds),
            "train_time_s": round(seconds, 1),
            "latency_ms": round(single_clip_latency_ms(model), 3),
            "epochs": result.epochs_done,
            "report": str(ev.report.report_html),
        })
    board = write_leaderboard(out, rows, metric_name=f"{split} {m['task_metric']['name']}")
    rows.sort(key=lambda r: -(r["metric"] if r["metric"] is not None else -math.inf))
    return CompareResult(rows, board, out)


def epochs_for_budget(config: TrainConfig, pack: Pack, seconds: float) -> int:
    """Epochs of ``config.model`` that fit ``seconds`` of training, from a short timed probe."""
    clip_seconds = config.clip_seconds or pack.clip_seconds or 1.0
    num_samples = int(round(clip_seconds * pack.sample_rate))
    train_idx = pack.split_indices("train")
    torch.manual_seed(config.seed)
    model = build_model(config, pack, clip_seconds=clip_seconds).train()
    optimizer = build_optimizer(model, config)
    rng = np.random.default_rng(config.seed)
    timings = []
    for _ in range(PROBE_STEPS):
        batch = make_batch(pack, rng.choice(train_idx, min(config.batch_size, len(train_idx))), num_samples=num_samples, generator=rng)
        t0 = time.perf_counter()
        loss = model.loss(model(batch.wav), batch.target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings.append(time.perf_counter() - t0)
    step_s = float(np.median(timings[1:])) * 1.15  # + validation, augmentation, logging
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    return max(1, int(seconds / (step_s * steps_per_epoch)))


@torch.no_grad()
def single_clip_latency_ms(model: torch.nn.Module, *, runs: int = 30) -> float:
    """Median wall time (ms) of one forward pass on one clip, eager PyTorch, one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wav = torch.zeros(1, 1, int(round(model.sample_rate * model.clip_seconds)))
        model.eval()
        for _ in range(3):
            model(wav)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(wav)
            times.append(time.perf_counter() - t0)
        return float(np.median(times)) * 1000
    finally:
        torch.set_num_threads(threads)


def _load(model_dir: Path):
    from wavetag.models import load_model_dir

    return load_model_dir(model_dir)[0]
