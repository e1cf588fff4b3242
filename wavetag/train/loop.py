"""Training: `train` sets up a `Trainer` and runs it; the `Trainer` reads top to bottom (minGPT's
``trainer.py`` in spirit): a typed `TrainState`, one `Trainer.step`, one
`Trainer.validate_and_keep`, one stop rule (`Trainer.after_step`).

    pack --epoch_order (seeded permutation | class-balanced draws)--> indices [B] per step
      --make_batch (random crop, seeded)--> wav [B, 1, T], target [B] | [B, C]
      --TalkWindows (a share of rows as windows of running speech; off by default)
      --augment.wave, mixup--> --_TrainForward: front end, SpecAugment, backbone, head--> logits [B, K]
      --Task.loss (+ the model's regularisation)--> backward, optimizer step at lr_at(step)
    every eval_every_steps and at each epoch's end: validation split --evaluate_split--> history.csv,
      TensorBoard, best/ (keep_best_by); last/ (exact-resume checkpoint)

Every step's randomness (batch crops, augmentation, dropout) is drawn from generators seeded by
``(seed, epoch, step)``, and the learning rate is a pure function of the step. A checkpoint
therefore only needs the weights, the optimizer tensors and `TrainState` for ``--resume`` to
continue exactly as if the run had never stopped. Detection thresholds are tuned by `train` after
the `Trainer` is done (``tune_detection``), not by the loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavetag.augment import build_augment
from wavetag.config import config_from_dict, config_to_dict, load_yaml, save_yaml
from wavetag.data.dataset import epoch_order, fit_normalization, make_batch
from wavetag.data.pack import Pack
from wavetag.data.talk import TalkWindows
from wavetag.errors import CheckpointError, ConfigError, WavetagError
from wavetag.frontends import FrontEnd
from wavetag.inference.thresholds import tune_model_dir
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


@dataclass
class TrainState:
    """Where a run stands; saved in ``last/train_state.json`` and all that resuming needs besides
    the weights and the optimizer (every random draw is seeded by epoch and step)."""

    epoch: int = 0  # epochs finished; the run goes on in this epoch
    step_in_epoch: int = 0  # steps finished in that epoch
    global_step: int = 0
    best_metric: float | None = None  # of keep_best_by, at best/
    best_epoch: int = -1
    best_monitor: float | None = None  # of monitor, when it is not keep_best_by
    bad_validations: int = 0  # validations in a row without improvement of monitor
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


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
    return model_from_config(
        config,
        num_classes=pack.num_classes,
        task=resolve_task(config, pack),
        sample_rate=rate,
        clip_seconds=clip_seconds,
    )


def model_from_config(
    config: TrainConfig, *, num_classes: int, task: str, sample_rate: int, clip_seconds: float
) -> Classifier:
    """The model ``config`` names (its front end and ``model_args``), for ``num_classes`` classes.
    Built inside ``with torch.device("meta")`` it costs no memory: a front end's missing weights
    files still fail, so callers check a recipe before long work (`wavetag.demo`)."""
    return create_model(
        config.model,
        num_classes=num_classes,
        task=task,
        frontend=_frontend_spec(config.model, config.frontend),
        sample_rate=sample_rate,
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
    """front end → SpecAugment → backbone → head, as one module so DDP sees one forward.

    SpecAugment masks spectrogram-like features ``[B, C, F, frames]`` only, never waveforms or
    embedding sequences. It goes in as ``forward_features``' transform, which an `Ensemble` hands
    to its members: each member's features are masked as if it were trained alone (its own draw,
    members in order), so the configured masks reach e.g. the log-mel CNN of the ``kws`` recipe.
    """

    def __init__(self, model: Classifier, spec_augment) -> None:
        super().__init__()
        self.model = model
        self.spec_augment = spec_augment

    def forward(self, wav: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        def masks(feats: torch.Tensor) -> torch.Tensor:  # (B, C, F, frames), (B, C, T) or (B, D, steps)
            return self.spec_augment(feats, generator) if feats.dim() == 4 else feats

        return self.model.forward_head(self.model.forward_features(wav, masks))  # (B, K)


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
    With ``config.tune_detection``, the detection thresholds of ``best/`` are tuned afterwards.

    Nothing in ``out_dir`` is touched before the whole configuration, the pack and the model
    have been checked. ``overwrite=True`` keeps the old run aside until the new one writes its
    first checkpoint, and puts it back if the new run fails or is interrupted before that (see
    `wavetag.train.rundir`). A run stopped before its first checkpoint can be started again in
    place. On Ctrl-C, the message says where the last checkpoint is and how to resume.
    """
    run = RunDir(Path(out_dir), overwrite=overwrite, enabled=DistContext.from_env().is_main and not resume)
    try:
        trainer = Trainer(pack, config, run, resume=resume, progress=progress, verbose=verbose)
        result = trainer.run()
        if trainer.ctx.is_main and trainer.config.tune_detection and not trainer.pack.multi_label:
            _tune_detection(result.best_dir, trainer.pack, trainer.config, trainer.logger)
        trainer.ctx.barrier()
    except KeyboardInterrupt:
        restored = run.failed()
        if DistContext.from_env().is_main:
            print(interrupted_message(run.run_dir, pack, restored=restored), file=sys.stderr, flush=True)
        raise
    except BaseException:
        run.failed()
        raise
    return result


def _tune_detection(best_dir: Path, pack: Pack, config: TrainConfig, logger: RunLogger) -> None:
    """Tune the detection thresholds of ``best/`` on the validation stream (``tune_detection``)."""
    if not best_dir.is_dir():
        return
    target = config.detection_target_fa_per_hour
    detection = tune_model_dir(best_dir, pack, target_fa_per_hour=target, hop_s=config.detection_hop_s)
    fallback = f" (fallback: {detection['fallback']})" if detection.get("fallback") else ""
    logger.note(
        f"detection thresholds tuned on the validation stream for {target:g} false accepts/hour{fallback}; "
        f"stored in {best_dir / 'config.json'}"
    )


def interrupted_message(run_dir: Path, pack: str | Path | Pack, *, restored: bool = False) -> str:
    """What to tell a user whose run was interrupted: where the last checkpoint is, and the
    exact command that resumes it (or, before the first checkpoint, that starts it again)."""
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


class Trainer:
    """One training run: everything is built and checked in ``__init__`` (nothing written yet),
    then `run` goes through the epochs: `step` per batch, `after_step` at every step boundary."""

    def __init__(
        self,
        pack: str | Path | Pack,
        config: TrainConfig | dict[str, Any] | None,
        run: RunDir,
        *,
        resume: bool = False,
        progress: bool = True,
        verbose: bool = True,
    ) -> None:
        self.t_start = time.perf_counter()
        self.ctx = ctx = DistContext.from_env()
        self.pack = pack = pack if isinstance(pack, Pack) else Pack.open(pack)
        self.run_dir = run.run_dir
        self.rundir = run
        if isinstance(config, dict):
            config = config_from_dict(TrainConfig, config)
        self.config = config = _resolve_config(self.run_dir, config, resume=resume)
        config.validate()
        run.check()
        torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // ctx.world_size))
        self.clip_seconds = config.clip_seconds or pack.clip_seconds or 1.0
        self.num_samples = int(round(self.clip_seconds * pack.sample_rate))
        if config.tune_detection and config.detection_hop_s > self.clip_seconds:
            raise ConfigError(
                f"detection_hop_s = {config.detection_hop_s:g} is longer than the model's window "
                f"({self.clip_seconds:g} s); expected <= the window, or detection would skip audio"
            )
        self.train_idx = pack.split_indices("train")
        if len(self.train_idx) == 0:
            raise ConfigError(
                f"{pack.path}: the train split is empty; re-prepare with a split rule that leaves training clips"
            )
        if config.balance_by is not None:  # the column exists and some training clip has a value
            epoch_order(pack, self.train_idx, seed=config.seed, epoch=0, balance_by=config.balance_by)
        self.steps_per_epoch = math.ceil(len(ctx.shard(np.arange(len(self.train_idx)))) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs

        torch.manual_seed(config.seed)  # weight initialisation
        self.model = build_model(config, pack, clip_seconds=self.clip_seconds)
        self.state = TrainState()
        if resume:
            self.model, self.optimizer, saved = load_checkpoint(
                find_checkpoint(self.run_dir), lambda m: build_optimizer(m, config)
            )
            self.state = TrainState.from_dict(saved)
        else:
            fit_normalization(
                self.model.frontend,
                pack,
                self.train_idx,
                num_samples=self.num_samples,
                batch_size=config.batch_size,
                batches=config.fit_normalization_batches,
                seed=config.seed,
            )
            self.optimizer = build_optimizer(self.model, config)
        notes: list[str] = []
        self.aug = _build_augment(config, pack, note=notes.append)
        self.talk = TalkWindows(config.talk, pack, self.train_idx)
        # Everything is checked: only now is the run directory touched.
        run.start()
        if ctx.is_main and not resume:
            save_yaml(config_to_dict(config), self.run_dir / CONFIG_FILE)
        self.logger = RunLogger(
            self.run_dir,
            enabled=ctx.is_main,
            tensorboard=config.tensorboard,
            purge_step=self.state.global_step if resume else None,
            progress=progress,
            verbose=verbose,
        )
        for note in notes + self._stale_backup_notes():
            self.logger.note(note)
        forward = _TrainForward(self.model, self.aug.spec)
        if ctx.enabled:
            forward = torch.nn.parallel.DistributedDataParallel(forward)
        self.step_fn = torch.compile(forward) if config.compile else forward
        self.class_weights = _class_weights(pack, self.train_idx) if config.class_weights else None
        self.extra = _model_extra(pack, config, self.clip_seconds)

    def run(self) -> TrainResult:
        """Train from ``state`` to the last epoch or the stop rule; returns what happened."""
        config, state, logger = self.config, self.state, self.logger
        logger.note(
            f"training {config.model} ({self.model.num_params():,} parameters) on {len(self.train_idx):,} clips "
            f"of {self.pack.path}, {config.epochs} epochs x {self.steps_per_epoch} steps, batch {config.batch_size}"
            + (f" x {self.ctx.world_size} ranks" if self.ctx.enabled else "")
        )
        kinds = {m.output_kind for m in self.model.modules() if isinstance(m, FrontEnd)}  # members' too
        logger.note(self.aug.describe(spectrogram="image" in kinds))
        first_epoch, first_step = state.epoch, state.step_in_epoch
        stop = state.stopped_early
        for epoch in range(first_epoch, config.epochs):
            if stop:
                break
            shard = self.ctx.shard(
                epoch_order(
                    self.pack,
                    self.train_idx,
                    seed=config.seed,
                    epoch=epoch,
                    balanced=config.balanced_sampler,
                    balance_by=config.balance_by,
                )
            )
            start = first_step if epoch == first_epoch else 0
            sums = {"loss": 0.0, "correct": 0.0, "count": 0}
            t_epoch, clips = time.perf_counter(), 0
            bar = logger.epoch_bar(epoch + 1, config.epochs, self.steps_per_epoch, start=start)
            for step_in_epoch in range(start, self.steps_per_epoch):
                rows = shard[step_in_epoch * config.batch_size : (step_in_epoch + 1) * config.batch_size]
                loss, correct, lr = self.step(epoch, step_in_epoch, rows)
                sums["loss"] += loss * len(rows)
                sums["correct"] += correct
                sums["count"] += len(rows)
                clips += len(rows) * self.ctx.world_size
                logger.step(
                    bar,
                    epoch * self.steps_per_epoch + step_in_epoch,
                    loss=loss,
                    acc=sums["correct"] / max(1, sums["count"]),
                    lr=lr,
                    clips_per_s=clips / max(1e-9, time.perf_counter() - t_epoch),
                    log_every=config.log_every_steps,
                )
                stop = self.after_step(epoch, step_in_epoch + 1, sums)
                if stop:
                    break
            logger.close_bar(bar)
        logger.close()
        return TrainResult(
            run_dir=self.run_dir,
            best_dir=self.run_dir / "best",
            last_dir=self.run_dir / "last",
            epochs_done=state.epoch,
            global_step=state.global_step,
            best_metric=state.best_metric if state.best_metric is not None else float("nan"),
            best_epoch=state.best_epoch,
            stopped_early=bool(state.stopped_early),
            seconds=time.perf_counter() - self.t_start,
            history=logger.history(),
        )

    def step(self, epoch: int, step_in_epoch: int, rows: np.ndarray) -> tuple[float, float, float]:
        """One optimisation step on the clips ``rows``; returns ``(loss, clips right, lr)``."""
        config, model, optimizer = self.config, self.model, self.optimizer
        global_step = epoch * self.steps_per_epoch + step_in_epoch
        batch = make_batch(
            self.pack,
            rows,
            num_samples=self.num_samples,
            crop="random",
            generator=np.random.default_rng(step_seed(config.seed, epoch, step_in_epoch, 0)),
        )
        batch = self.talk(batch, np.random.default_rng(step_seed(config.seed, epoch, step_in_epoch, 3)))
        aug_gen = torch.Generator().manual_seed(step_seed(config.seed, epoch, step_in_epoch, 1))
        torch.manual_seed(step_seed(config.seed, epoch, step_in_epoch, 2))  # dropout
        wav = self.aug.wave(batch.wav, aug_gen)
        wav, target = self.aug.mixup.mix(wav, batch.target, generator=aug_gen, num_classes=self.pack.num_classes)
        lr = lr_at(
            global_step,
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            peak_lr=config.optimizer.lr,
            config=config.schedule,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.use_bf16):
            logits = self.step_fn(wav, aug_gen)

        def loss_fn(z: torch.Tensor) -> torch.Tensor:
            return model.loss(z, target, label_smoothing=config.label_smoothing, class_weights=self.class_weights)

        loss = model.training_loss(logits.float(), loss_fn) + model.regularization_loss()
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the loss became {loss.item()} at epoch {epoch + 1}, step {global_step} (learning rate {lr:.3g}); "
                f"lower --lr, raise warm-up, or set --grad-clip; the last good checkpoint is in {self.run_dir / 'last'}"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
        if config.tb_histograms_every_steps and (global_step + 1) % config.tb_histograms_every_steps == 0:
            self.logger.histograms(model, global_step + 1)
        return loss.item(), _correct(model, logits.detach(), batch.target), lr

    def after_step(self, epoch: int, done: int, sums: dict) -> bool:
        """The one stop rule, after ``done`` steps of ``epoch``: validate at each epoch's end and
        every ``eval_every_steps``; stop when early stopping says so or the time budget is spent
        (validating first); checkpoint whenever it validated, stops, or ``checkpoint_every_steps``."""
        config, end = self.config, done == self.steps_per_epoch
        global_step = epoch * self.steps_per_epoch + done
        validate = end or _every(global_step, config.eval_every_steps)
        stop = self.validate_and_keep(epoch, global_step, _train_stats(sums, self.ctx)) if validate else False
        if config.max_train_seconds and self.ctx.broadcast_flag(
            time.perf_counter() - self.t_start > config.max_train_seconds
        ):
            if not end:
                self.logger.note(
                    f"time budget of {config.max_train_seconds:.0f} s spent at step {global_step}; stopping"
                )
            if not validate:
                self.validate_and_keep(epoch, global_step, _train_stats(sums, self.ctx))
            self.state.stopped_early = stop = True
        if validate or stop or _every(global_step, config.checkpoint_every_steps):
            self.checkpoint(epoch + 1 if end else epoch, 0 if end else done, global_step)
        return stop

    def validate_and_keep(self, epoch: int, global_step: int, train_stats: dict) -> bool:
        """Validate (rank 0), log, keep ``best/``; True when early stopping says stop (all ranks)."""
        config, state = self.config, self.state
        self.ctx.sync_buffers(self.model)
        stop = False
        if self.ctx.is_main:
            val = evaluate_split(
                self.model, self.pack, "validation", clip_seconds=self.clip_seconds, batch_size=config.eval_batch_size
            )
            lr = self.optimizer.param_groups[0]["lr"]
            row = {"epoch": epoch + 1, "step": global_step, "lr": lr, **train_stats, **val.scalars}
            self.logger.log_validation(row, val, self.pack.labels, confusion=config.confusion_image)
            if config.tb_histograms_every_steps is None:
                self.logger.histograms(self.model, global_step)
            metric = row.get(config.keep_best_by)
            if metric is not None and is_better(config.keep_best_by, metric, state.best_metric):
                state.best_metric, state.best_epoch = metric, epoch + 1
                best = {config.keep_best_by: metric, "epoch": epoch + 1, "step": global_step}
                save_model_copy(self.run_dir / "best", self.model, extra={**self.extra, "best": best})
            if config.monitor == config.keep_best_by:
                improved = state.best_epoch == epoch + 1
            else:
                monitored = row.get(config.monitor)
                improved = monitored is not None and is_better(config.monitor, monitored, state.best_monitor)
                if improved:
                    state.best_monitor = monitored
            state.bad_validations = 0 if improved else state.bad_validations + 1
            patience = config.early_stopping_patience
            stop = state.stopped_early = patience is not None and state.bad_validations >= patience
        return self.ctx.broadcast_flag(stop)

    def checkpoint(self, epoch: int, step_in_epoch: int, global_step: int) -> None:
        """Write ``last/`` (weights, optimizer, `TrainState`) atomically; all ranks wait for it."""
        self.state.epoch, self.state.step_in_epoch, self.state.global_step = epoch, step_in_epoch, global_step
        if self.ctx.is_main:
            save_checkpoint(self.run_dir / "last", self.model, self.optimizer, self.state.to_dict(), extra=self.extra)
            self.rundir.committed()  # the new run has a checkpoint: a previous run kept aside is dropped
            self.logger.flush()
        self.ctx.barrier()

    def _stale_backup_notes(self) -> list[str]:
        return [
            f"note: {old} holds a run an earlier --overwrite kept aside and never put back (that process was "
            f"killed); move it back (mv {old} {self.run_dir}) or delete it"
            for old in self.rundir.stale_backups()
        ]


def _every(step: int, interval: int | None) -> bool:
    return bool(interval) and step % interval == 0


def _resolve_config(run_dir: Path, config: TrainConfig | None, *, resume: bool) -> TrainConfig:
    """The run's config: ``run_dir/config.yaml`` when resuming, else ``config``; reads only."""
    path = run_dir / CONFIG_FILE
    if resume:
        if not path.is_file():
            raise CheckpointError(
                f"{run_dir}: not a run directory (no {CONFIG_FILE}); check the path, or start a new run "
                "without --resume"
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
