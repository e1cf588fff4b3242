"""The training loop, readable top to bottom (nanoGPT ``train.py`` in spirit).

Every step's randomness (batch crops, augmentation, dropout) is drawn from generators seeded by
``(seed, epoch, step)``, and the learning rate is a pure function of the step. A checkpoint
therefore only needs the weights, the optimizer tensors and a few counters for
``--resume`` to continue exactly as if the run had never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.augment import build_augment
from wavetag.config import config_from_dict, config_to_dict, load_yaml, save_yaml
from wavetag.data.dataset import make_batch
from wavetag.data.pack import Pack
from wavetag.errors import CheckpointError, ConfigError, WavetagError
from wavetag.models import Classifier, create_model, model_info
from wavetag.train.checkpoint import STATE_NAME, find_checkpoint, load_checkpoint, save_checkpoint, save_model_copy
from wavetag.train.config import TrainConfig
from wavetag.train.distributed import DistContext
from wavetag.train.logging import RunLogger
from wavetag.train.rundir import RunDir
from wavetag.train.schedule import lr_at
from wavetag.train.validate import evaluate_split, is_better

CONFIG_FILE = "config.yaml"


class TrainingError(WavetagError):
    """Training cannot go on (e.g. the loss became NaN)."""


@dataclass
class TrainResult:
    run_dir: Path
    best_dir: Path
    last_dir: Path
    epochs_done: int
    global_step: int
    best_metric: float
    best_epoch: int
    stopped_early: bool
    seconds: float
    history: list[dict[str, Any]]


def step_seed(seed: int, epoch: int, step: int, stream: int) -> int:
    """A 63-bit seed for one stream (0 batch, 1 augment, 2 dropout) of one step."""
    return int(np.random.SeedSequence([seed, epoch, step, stream]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def resolve_task(config: TrainConfig, pack: Pack) -> str:
    if config.task:
        return config.task
    if pack.multi_label:
        return "multilabel"
    return "binary" if pack.num_classes == 2 else "multiclass"


def build_model(config: TrainConfig, pack: Pack, *, clip_seconds: float) -> Classifier:
    frontend = _frontend_spec(config.model, config.frontend)
    rate = (frontend or {}).get("sample_rate", pack.sample_rate)
    if rate != pack.sample_rate:
        raise ConfigError(
            f"the front end runs at {rate} Hz but the pack {pack.path} is at {pack.sample_rate} Hz; "
            f"drop sample_rate from the front-end config or re-prepare the pack with --sample-rate {rate}"
        )
    return create_model(
        config.model,
        num_classes=pack.num_classes,
        task=resolve_task(config, pack),
        frontend=frontend,
        sample_rate=pack.sample_rate,
        clip_seconds=clip_seconds,
        **config.model_args,
    )


def _frontend_spec(model: str, frontend: dict | None) -> dict | None:
    """None = the model's default front end; a mapping without ``name`` overrides fields of it."""
    if not frontend:
        return None
    if "name" not in frontend:
        return {**model_info(model)["default_frontend"], **frontend}
    return dict(frontend)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD; no weight decay on biases and normalisation parameters (1-D tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    o = config.optimizer
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
    return torch.optim.AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2))


class _TrainForward(torch.nn.Module):
    """front end → SpecAugment → backbone → head, as one module so DDP sees one forward."""

    def __init__(self, model: Classifier, spec_augment) -> None:
        super().__init__()
        self.model = model
        self.spec_augment = spec_augment

    def forward(self, wav: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        feats = self.model.frontend(wav)  # (B, C, F, frames) or (B, C, T)
        if feats.dim() == 4:  # SpecAugment masks spectrogram-like features only, never waveforms
            feats = self.spec_augment(feats, generator)
        return self.model.forward_head(self.model.backbone(feats))  # (B, K)


def train(
    pack: str | Path | Pack,
    config: TrainConfig | dict[str, Any] | None = None,
    out_dir: str | Path = "runs/run",
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    verbose: bool = True,
) -> TrainResult:
    """Train ``config.model`` on the train split of ``pack``, validating on its validation split.

    Writes ``out_dir``: ``config.yaml`` (fully resolved), ``history.csv``, TensorBoard events
    (``tb/``), ``best/`` and ``last/`` model directories (``last/`` also holds the state for
    ``resume=True``). Under torchrun the work is shared by all ranks (see `train.distributed`).

    Nothing in ``out_dir`` is touched before the whole configuration, the pack and the model
    have been checked. ``overwrite=True`` keeps the old run aside until the new one writes its
    first checkpoint, and puts it back if the new run fails or is interrupted before that (see
    `wavetag.train.rundir`). A run stopped before its first checkpoint can be started again in
    place. On Ctrl-C, the message says where the last checkpoint is and how to resume.
    """
    run = RunDir(Path(out_dir), overwrite=overwrite, enabled=DistContext.from_env().is_main and not resume)
    try:
        return _train(pack, config, run, resume=resume, progress=progress, verbose=verbose)
    except KeyboardInterrupt:
        restored = run.failed()
        if DistContext.from_env().is_main:
            print(interrupted_message(run.run_dir, pack, restored=restored), file=sys.stderr, flush=True)
        raise
    except BaseException:
        run.failed()
        raise


def interrupted_message(run_dir: Path, pack: str | Path | Pack, *, restored: bool = False) -> str:
    """What to tell a user whose run was interrupted: where the last checkpoint is, and the
    exact command that resumes it (or, before the first checkpoint, that starts it again)."""
    import shlex

    pack_path = pack.path if isinstance(pack, Pack) else Path(pack)
    if restored:
        return (
            f"interrupted before the first checkpoint; the previous run in {run_dir} was put back as it was. "
            f"Start again with the same command"
        )
    try:
        last = find_checkpoint(run_dir)
        state = json.loads((last / STATE_NAME).read_text())
    except (WavetagError, OSError, ValueError):
        return (
            f"interrupted before the first checkpoint, so there is nothing to resume; start again with the same "
            f"command (the run directory {run_dir} is reused)"
        )
    done, part = state.get("epoch", 0), state.get("step_in_epoch", 0)
    where = f"step {state.get('global_step')}: {done} epoch{'s' if done != 1 else ''} done" + (
        f" + {part} steps" if part else ""
    )
    return (
        f"interrupted; the last checkpoint is {last} ({where}). Resume with:\n"
        f"  wavetag train {shlex.quote(str(pack_path))} --resume {shlex.quote(str(run_dir))}"
    )


def _train(
    pack: str | Path | Pack,
    config: TrainConfig | dict[str, Any] | None,
    run: RunDir,
    *,
    resume: bool,
    progress: bool,
    verbose: bool,
) -> TrainResult:
    t_start = time.perf_counter()
    ctx = DistContext.from_env()
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    run_dir = run.run_dir
    if isinstance(config, dict):
        config = config_from_dict(TrainConfig, config)
    config = _resolve_config(run_dir, config, resume=resume)
    config.validate()
    run.check()
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // ctx.world_size))
    clip_seconds = config.clip_seconds or pack.clip_seconds or 1.0
    num_samples = int(round(clip_seconds * pack.sample_rate))
    train_idx = pack.split_indices("train")
    if len(train_idx) == 0:
        raise ConfigError(
            f"{pack.path}: the train split is empty; re-prepare with a split rule that leaves training clips"
        )
    steps_per_epoch = math.ceil(len(ctx.shard(np.arange(len(train_idx)))) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs

    torch.manual_seed(config.seed)  # weight initialisation
    model = build_model(config, pack, clip_seconds=clip_seconds)
    state = {
        "epoch": 0,
        "step_in_epoch": 0,
        "global_step": 0,
        "best_metric": None,
        "best_epoch": -1,
        "bad_validations": 0,
        "stopped_early": False,
    }
    if resume:
        model, optimizer, state = load_checkpoint(find_checkpoint(run_dir), lambda m: build_optimizer(m, config))
    else:
        _fit_normalization(model, pack, train_idx, config, num_samples)
        optimizer = build_optimizer(model, config)
    notes: list[str] = []
    aug = _build_augment(config, pack, note=notes.append)
    # Everything is checked: only now is the run directory touched.
    run.start()
    if ctx.is_main and not resume:
        save_yaml(config_to_dict(config), run_dir / CONFIG_FILE)
    logger = RunLogger(
        run_dir,
        enabled=ctx.is_main,
        tensorboard=config.tensorboard,
        purge_step=state["global_step"] if resume else None,
        progress=progress,
        verbose=verbose,
    )
    for note in notes:
        logger.note(note)
    for old in run.stale_backups():
        logger.note(
            f"note: {old} holds a run an earlier --overwrite kept aside and never put back (that process was "
            f"killed); move it back (mv {old} {run_dir}) or delete it"
        )
    forward = _TrainForward(model, aug.spec)
    if ctx.enabled:
        forward = torch.nn.parallel.DistributedDataParallel(forward)
    step_fn = torch.compile(forward) if config.compile else forward
    class_weights = _class_weights(pack, train_idx) if config.class_weights else None
    extra = _model_extra(pack, config, clip_seconds)
    logger.note(
        f"training {config.model} ({model.num_params():,} parameters) on {len(train_idx):,} clips of {pack.path}, "
        f"{config.epochs} epochs x {steps_per_epoch} steps, batch {config.batch_size}"
        + (f" x {ctx.world_size} ranks" if ctx.enabled else "")
    )

    def validate_and_checkpoint(epoch: int, step_in_epoch: int, global_step: int, train_stats: dict) -> bool:
        """Validate (rank 0), log, keep best/last; returns True when early stopping says stop."""
        ctx.sync_buffers(model)
        stop = False
        if ctx.is_main:
            val = evaluate_split(
                model, pack, "validation", clip_seconds=clip_seconds, batch_size=config.eval_batch_size
            )
            row = {
                "epoch": epoch + 1,
                "step": global_step,
                "lr": optimizer.param_groups[0]["lr"],
                **train_stats,
                **val.scalars,
            }
            logger.log_validation(row, val, pack.labels, confusion=config.confusion_image)
            if config.tb_histograms_every_steps is None:
                logger.histograms(model, global_step)
            metric = row.get(config.keep_best_by)
            if metric is not None and is_better(config.keep_best_by, metric, state["best_metric"]):
                state["best_metric"], state["best_epoch"] = metric, epoch + 1
                save_model_copy(
                    run_dir / "best",
                    model,
                    extra={**extra, "best": {config.keep_best_by: metric, "epoch": epoch + 1, "step": global_step}},
                )
            monitored = row.get(config.monitor)
            if config.monitor == config.keep_best_by:
                improved = state["best_epoch"] == epoch + 1
            else:
                improved = monitored is not None and is_better(config.monitor, monitored, state.get("best_monitor"))
                if improved:
                    state["best_monitor"] = monitored
            state["bad_validations"] = 0 if improved else state["bad_validations"] + 1
            stop = (
                config.early_stopping_patience is not None
                and state["bad_validations"] >= config.early_stopping_patience
            )
            state["stopped_early"] = stop
        return ctx.broadcast_flag(stop)

    def checkpoint(epoch: int, step_in_epoch: int, global_step: int) -> None:
        state.update(epoch=epoch, step_in_epoch=step_in_epoch, global_step=global_step)
        if ctx.is_main:
            save_checkpoint(run_dir / "last", model, optimizer, state, extra=extra)
            run.committed()  # the new run has a checkpoint: a previous run kept aside is dropped
            logger.flush()
        ctx.barrier()

    start_epoch, start_step = state["epoch"], state["step_in_epoch"]
    stop = state["stopped_early"]
    for epoch in range(start_epoch, config.epochs):
        if stop:
            break
        order = _epoch_order(pack, train_idx, config, epoch)
        shard = ctx.shard(order)
        sums = {"loss": 0.0, "correct": 0.0, "count": 0}
        t_epoch, clips = time.perf_counter(), 0
        bar = logger.epoch_bar(
            epoch + 1, config.epochs, steps_per_epoch, start=start_step if epoch == start_epoch else 0
        )
        for step_in_epoch in range(start_step if epoch == start_epoch else 0, steps_per_epoch):
            global_step = epoch * steps_per_epoch + step_in_epoch
            rows = shard[step_in_epoch * config.batch_size : (step_in_epoch + 1) * config.batch_size]
            batch = make_batch(
                pack,
                rows,
                num_samples=num_samples,
                crop="random",
                generator=np.random.default_rng(step_seed(config.seed, epoch, step_in_epoch, 0)),
            )
            aug_gen = torch.Generator().manual_seed(step_seed(config.seed, epoch, step_in_epoch, 1))
            torch.manual_seed(step_seed(config.seed, epoch, step_in_epoch, 2))
            wav = aug.wave(batch.wav, aug_gen)
            wav, target = aug.mixup.mix(wav, batch.target, generator=aug_gen, num_classes=pack.num_classes)
            lr = lr_at(
                global_step,
                total_steps=total_steps,
                steps_per_epoch=steps_per_epoch,
                peak_lr=config.optimizer.lr,
                config=config.schedule,
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                logits = step_fn(wav, aug_gen)
            loss = model.training_loss(
                logits.float(),
                lambda z, target=target: model.loss(
                    z, target, label_smoothing=config.label_smoothing, class_weights=class_weights
                ),
            )
            loss = loss + model.regularization_loss()
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {global_step} (learning rate {lr:.3g}); "
                    f"lower --lr, raise warm-up, or set --grad-clip; the last good checkpoint is in {run_dir / 'last'}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimizer.step()
            if config.tb_histograms_every_steps and (global_step + 1) % config.tb_histograms_every_steps == 0:
                logger.histograms(model, global_step + 1)
            sums["loss"] += loss.item() * len(rows)
            sums["correct"] += _correct(model, logits.detach(), batch.target)
            sums["count"] += len(rows)
            clips += len(rows) * ctx.world_size
            rate = clips / max(1e-9, time.perf_counter() - t_epoch)
            logger.step(
                bar,
                global_step,
                loss=loss.item(),
                acc=sums["correct"] / max(1, sums["count"]),
                lr=lr,
                clips_per_s=rate,
                log_every=config.log_every_steps,
            )
            done_in_epoch = step_in_epoch + 1 == steps_per_epoch
            if config.eval_every_steps and (global_step + 1) % config.eval_every_steps == 0 and not done_in_epoch:
                stop = validate_and_checkpoint(epoch, step_in_epoch + 1, global_step + 1, _train_stats(sums, ctx))
                checkpoint(epoch, step_in_epoch + 1, global_step + 1)
                if stop:
                    break
            elif (
                config.checkpoint_every_steps
                and (global_step + 1) % config.checkpoint_every_steps == 0
                and not done_in_epoch
            ):
                checkpoint(epoch, step_in_epoch + 1, global_step + 1)
            if (
                config.max_train_seconds
                and not done_in_epoch
                and ctx.broadcast_flag(time.perf_counter() - t_start > config.max_train_seconds)
            ):
                logger.note(
                    f"time budget of {config.max_train_seconds:.0f} s spent at step {global_step + 1}; stopping"
                )
                validate_and_checkpoint(epoch, step_in_epoch + 1, global_step + 1, _train_stats(sums, ctx))
                state["stopped_early"] = stop = True
                checkpoint(epoch, step_in_epoch + 1, global_step + 1)
                break
        logger.close_bar(bar)
        if stop:
            break
        stop = validate_and_checkpoint(epoch, steps_per_epoch, (epoch + 1) * steps_per_epoch, _train_stats(sums, ctx))
        if config.max_train_seconds and ctx.broadcast_flag(time.perf_counter() - t_start > config.max_train_seconds):
            state["stopped_early"] = stop = True
        checkpoint(epoch + 1, 0, (epoch + 1) * steps_per_epoch)
    logger.close()
    if ctx.is_main and config.tune_detection and not pack.multi_label and (run_dir / "best").is_dir():
        from wavetag.inference.thresholds import tune_model_dir

        detection = tune_model_dir(run_dir / "best", pack, target_fa_per_hour=config.detection_target_fa_per_hour)
        logger.note(
            f"detection thresholds tuned on the validation stream for {config.detection_target_fa_per_hour:g} false accepts/hour"
            + (f" (fallback: {detection['fallback']})" if detection.get("fallback") else "")
            + f"; stored in {run_dir / 'best' / 'config.json'}"
        )
    ctx.barrier()
    return TrainResult(
        run_dir=run_dir,
        best_dir=run_dir / "best",
        last_dir=run_dir / "last",
        epochs_done=state["epoch"],
        global_step=state["global_step"],
        best_metric=state["best_metric"] if state["best_metric"] is not None else float("nan"),
        best_epoch=state["best_epoch"],
        stopped_early=bool(state["stopped_early"]),
        seconds=time.perf_counter() - t_start,
        history=logger.history(),
    )


def _resolve_config(run_dir: Path, config: TrainConfig | None, *, resume: bool) -> TrainConfig:
    """The run's config: ``run_dir/config.yaml`` when resuming, else ``config``; reads only."""
    path = run_dir / CONFIG_FILE
    if resume:
        if not path.is_file():
            raise CheckpointError(
                f"{run_dir}: not a run directory (no {CONFIG_FILE}); check the path, or start a new run without --resume"
            )
        try:
            return config_from_dict(TrainConfig, load_yaml(path), where="")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return config or TrainConfig()


def _build_augment(config: TrainConfig, pack: Pack, *, note):
    """The run's augmenters; background noise is turned off (with a note) when the pack has no bank."""
    augment, bank = config.augment, pack.noise_bank()
    if augment.background_noise.p > 0 and bank.size == 0:
        note(
            f"note: {pack.path} has no background-noise bank, so background-noise augmentation is off "
            "(prepare the pack with --noise-dir, or a speech-commands source with _background_noise_)"
        )
        augment = dataclasses.replace(augment, background_noise=dataclasses.replace(augment.background_noise, p=0.0))
    return build_augment(augment, sample_rate=pack.sample_rate, noise_bank=bank, noise_segments=pack.noise_files())


def _fit_normalization(
    model: Classifier, pack: Pack, train_idx: np.ndarray, config: TrainConfig, num_samples: int
) -> None:
    """Fit dataset mean/std of the front end (if it asks for them) on training batches."""
    norm = getattr(model.frontend, "norm", None)
    if norm is None or norm.mode != "dataset":
        return
    rng = np.random.default_rng(config.seed)
    picks = rng.permutation(train_idx)[: config.fit_normalization_batches * config.batch_size]
    with torch.no_grad():
        norm.fit(
            model.frontend.raw_features(
                make_batch(pack, chunk, num_samples=num_samples, crop="random", generator=rng).wav
            )
            for chunk in np.array_split(picks, max(1, math.ceil(len(picks) / config.batch_size)))
        )


def _epoch_order(pack: Pack, train_idx: np.ndarray, config: TrainConfig, epoch: int) -> np.ndarray:
    """Pack indices in this epoch's order: a seeded permutation, or class-balanced draws."""
    rng = np.random.default_rng([config.seed, epoch, 7])
    if not config.balanced_sampler or pack.multi_label:
        return rng.permutation(train_idx)
    labels = pack.index.label[train_idx]
    classes = np.unique(labels)
    per_class = math.ceil(len(train_idx) / len(classes))
    picks = np.concatenate([rng.choice(train_idx[labels == c], per_class, replace=True) for c in classes])
    return rng.permutation(picks)[: len(train_idx)]


def _class_weights(pack: Pack, train_idx: np.ndarray) -> torch.Tensor:
    """Inverse-frequency weights, mean 1 ([C]); multi-label: positive-class weights."""
    if pack.multi_label:
        positives = pack.index.labels[train_idx].sum(axis=0).astype(np.float64)
        negatives = len(train_idx) - positives
        return torch.tensor(np.clip(negatives / np.maximum(positives, 1), 1.0, 100.0), dtype=torch.float32)
    counts = np.bincount(pack.index.label[train_idx], minlength=pack.num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max(1, (counts > 0).sum()), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _correct(model: Classifier, logits: torch.Tensor, target: torch.Tensor) -> float:
    """Clips right in this batch (multi-label: the top tag is present)."""
    return float(model.task_rule.hits(model.probabilities(logits.float()).numpy(), target.numpy()).sum())


def _train_stats(sums: dict, ctx: DistContext) -> dict[str, float]:
    count = max(1, sums["count"])
    return {"train_loss": ctx.all_mean(sums["loss"] / count), "train_accuracy": ctx.all_mean(sums["correct"] / count)}


def _model_extra(pack: Pack, config: TrainConfig, clip_seconds: float) -> dict[str, Any]:
    return {
        "labels": list(pack.labels),
        "clip_seconds_train": clip_seconds,
        "pack": {"path": str(pack.path), "sample_rate": pack.sample_rate, "checksum": pack.info.get("checksum")},
        "train": {"model": config.model, "epochs": config.epochs, "seed": config.seed},
    }
