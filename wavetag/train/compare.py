"""``compare``: train several models on the same pack, split and budget; one leaderboard.

Each entry gets the same `TrainConfig` except its model, and optionally its front end and model
options (``cnn2d@mfcc,cnn2d@spectrogram,cnn1d``: one model on several front ends). With a time budget (``minutes``), a
short probe measures each model's training speed and its epoch count is set so the whole
schedule (warm-up + cosine) fits the budget; ``max_train_seconds`` is the hard stop.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
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
from wavetag.frontends import FRONTENDS
from wavetag.models import list_models, load_model_dir, model_info
from wavetag.models.summary import frontend_short
from wavetag.registry import unknown_name_message
from wavetag.train.config import TrainConfig
from wavetag.train.loop import build_model, build_optimizer, train

PROBE_STEPS = 6


@dataclass
class CompareResult:
    rows: list[dict[str, Any]]
    leaderboard: LeaderboardPaths
    out_dir: Path


@dataclass(frozen=True)
class CompareEntry:
    """One contestant: ``model`` with its ``frontend`` (None: the shared config's, i.e. the
    model's default) and extra ``model_args``; ``label`` names its row and its run directory."""

    label: str
    model: str
    frontend: dict[str, Any] | None = None
    model_args: dict[str, Any] = field(default_factory=dict)


def parse_entry(entry: str | dict[str, Any], *, where: str = "--models") -> CompareEntry:
    """``"cnn2d"``, ``"cnn2d@mfcc"`` (model at front end, that front end's defaults) or a mapping
    ``{model, frontend (name or mapping), model_args, label}`` (a YAML list item) → `CompareEntry`."""
    if isinstance(entry, str):
        model, _, frontend = (part.strip() for part in entry.partition("@"))
        entry = {"model": model, **({"frontend": frontend} if frontend else {})}
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str) or not entry["model"]:
        raise ConfigError(
            f"{where}: entry {entry!r}; expected 'model', 'model@frontend' or a mapping with a 'model' name"
        )
    unknown = sorted(set(entry) - {"model", "frontend", "model_args", "label"})
    if unknown:
        raise ConfigError(
            f"{where}: entry for {entry['model']!r} has unknown key(s) {unknown}; expected model, frontend, "
            "model_args, label"
        )
    model, frontend = entry["model"], entry.get("frontend")
    if model not in list_models():
        raise ConfigError(f"{where}: " + unknown_name_message("model", model, list_models()))
    if isinstance(frontend, str):
        frontend = {"name": frontend}
    if frontend is not None:
        if not isinstance(frontend, dict) or "name" not in frontend:
            raise ConfigError(
                f"{where}: front end of {model!r} is {frontend!r}; expected a front-end name or a mapping with 'name'"
            )
        if frontend["name"] not in FRONTENDS.names():
            raise ConfigError(f"{where}: " + unknown_name_message("front end", frontend["name"], FRONTENDS.names()))
    label = entry.get("label") or (f"{model}@{frontend['name']}" if frontend else model)
    return CompareEntry(str(label), model, frontend, dict(entry.get("model_args") or {}))


def entry_config(config: TrainConfig, entry: CompareEntry) -> TrainConfig:
    """The shared config with this entry's model, front end and model options. Shared front-end
    fields without a name (``--frontend-set``) apply on top of the entry's front end."""
    shared = dict(config.frontend or {})
    if entry.frontend is None:
        frontend = config.frontend
    else:
        frontend = {**entry.frontend, **{k: v for k, v in shared.items() if k != "name"}}
    return dataclasses.replace(
        config, model=entry.model, frontend=frontend, model_args={**config.model_args, **entry.model_args}
    )


def _frontend_of(model: str, frontend: dict[str, Any] | None) -> dict[str, Any]:
    """The front-end spec a model trains with (as `train.loop.build_model` resolves it)."""
    if frontend and "name" in frontend:
        return frontend
    return {**model_info(model)["default_frontend"], **(frontend or {})}


def run_dir_name(label: str) -> str:
    """A label as a directory name: ``cnn2d@mfcc`` → ``cnn2d@mfcc``; path separators and other
    odd characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.@=+-]", "_", label).strip(".") or "model"


def compare(
    pack: str | Path | Pack,
    models: list[str | dict[str, Any]],
    *,
    out_dir: str | Path = "runs/compare",
    config: TrainConfig | None = None,
    minutes: float | None = None,
    split: str = "test",
    progress: bool = True,
) -> CompareResult:
    """Train and evaluate each of ``models``; returns the leaderboard rows (best first).

    ``models``: entries as `parse_entry` reads them (``"cnn1d"``, ``"cnn2d@mfcc"``, or mappings
    with ``model``, ``frontend``, ``model_args``, ``label``), so one model can run on several
    front ends. Every pairing is built once before any training, so a front end a model cannot
    take is refused at once. ``config`` supplies everything else (its ``epochs`` is the budget
    unless ``minutes`` is given: then each model trains for about ``minutes`` of wall time).
    The leaderboard has the family, input kind and front end of each row.
    """
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    config = config or TrainConfig()
    if not models:
        raise ConfigError("--models is empty; name at least one model, e.g. --models ds_cnn_s,bc_resnet_1")
    entries = [parse_entry(m) for m in models]
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--models lists an entry twice: {labels}; give each a different front end or label")
    if minutes is not None:
        check_range("minutes", minutes, 0.05, 10000)
    clip_seconds = config.clip_seconds or pack.clip_seconds or 1.0
    for entry in entries:  # refuse a bad pairing before anything trains
        build_model(entry_config(config, entry), pack, clip_seconds=clip_seconds)
    out = Path(out_dir)
    rows = []
    for entry in entries:
        cfg = entry_config(config, entry)
        if minutes is not None:
            cfg = dataclasses.replace(
                cfg, epochs=epochs_for_budget(cfg, pack, minutes * 60), max_train_seconds=minutes * 60 * 1.1
            )
        run = out / run_dir_name(entry.label)
        t0 = time.perf_counter()
        result = train(pack, cfg, run, overwrite=True, progress=progress)
        seconds = time.perf_counter() - t0
        ev = evaluate(run, pack, split=split)
        model = _load(run / "best")
        m = ev.metrics
        rows.append(
            {
                "model": entry.label,
                "family": model_info(entry.model)["family"],
                "input_kind": model.input_kind,
                "frontend": frontend_short(_frontend_of(entry.model, cfg.frontend)),
                "metric": m["task_metric"]["value"],
                "macro_f1": m["overall"].get("macro_f1"),
                "params": model.num_params(),
                "macs": model.macs(model.clip_seconds),
                "train_time_s": round(seconds, 1),
                "latency_ms": round(single_clip_latency_ms(model), 3),
                "epochs": result.epochs_done,
                "report": str(ev.report.report_html),
            }
        )
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
        batch = make_batch(
            pack, rng.choice(train_idx, min(config.batch_size, len(train_idx))), num_samples=num_samples, generator=rng
        )
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
    return load_model_dir(model_dir)[0]
