"""``wavetag train PACK --model NAME``: train a classifier on a pack; ``--resume RUN`` continues."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console
from wavetag.metric_names import MONITORS


@app.command("train")
def train_command(
    pack: Path | None = typer.Argument(
        None, help="Pack directory made by 'wavetag prepare' (not needed with --resume)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model name (see 'wavetag models'). [default: bc_resnet_1]"
    ),
    out: Path = typer.Option(
        Path("runs/run"), "--out", "-o", help="Run directory to create (config.yaml, history.csv, tb/, best/, last/)."
    ),
    recipe_name: str | None = typer.Option(
        None,
        "--recipe",
        help="Start from a named recipe: kws (the recommended keyword spotter, the demo's: a head on the frozen "
        "Whisper tiny.en encoder; kws_whisper is the same), kws_light (for small devices and cheap streaming: a "
        "log-mel DS-CNN and a head on the pretrained speech_embedding, averaged), kws_cnn (the DS-CNN alone), "
        "kws_embed (the embedding head alone), "
        "bc_resnet_paper, tagging, onoff (the WaveNet binary on/off detector; add --model-set "
        "params=wavenet_params.json). Precedence: defaults < recipe < --config < flags.",
    ),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML file of TrainConfig fields; flags override it, it overrides the recipe and defaults.",
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this directory exactly where its last checkpoint stopped."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Start again in a run directory that already holds a run; the old run is kept aside until the new run's "
        "first checkpoint and put back if the new run fails or is interrupted before it.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the train split. [default: 20]"),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Clips per optimiser step (per rank under torchrun). [default: 64]"
    ),
    clip_seconds: float | None = typer.Option(
        None, "--clip-seconds", help="Training crop length in seconds. [default: the pack's clip length, else 1.0]"
    ),
    optimizer: str | None = typer.Option(None, "--optimizer", help="adamw or sgd (momentum 0.9). [default: adamw]"),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate. [default: 3e-3]"),
    weight_decay: float | None = typer.Option(
        None, "--weight-decay", help="Weight decay (not on biases/norms). [default: 0.01]"
    ),
    schedule: str | None = typer.Option(
        None, "--schedule", help="cosine (warm-up then cosine), onecycle or constant. [default: cosine]"
    ),
    warmup_epochs: float | None = typer.Option(
        None, "--warmup-epochs", help="Linear warm-up length in epochs. [default: 1]"
    ),
    label_smoothing: float | None = typer.Option(
        None, "--label-smoothing", help="Label smoothing in [0, 0.5]. [default: 0]"
    ),
    grad_clip: float | None = typer.Option(
        None, "--grad-clip", help="Clip the gradient norm to this value. [default: 5]"
    ),
    class_weights: bool | None = typer.Option(
        None, "--class-weights/--no-class-weights", help="Weight the loss by inverse class frequency. [default: off]"
    ),
    balanced: bool | None = typer.Option(
        None, "--balanced/--no-balanced", help="Draw class-balanced batches. [default: off]"
    ),
    balance_by: str | None = typer.Option(
        None,
        "--balance-by",
        help="Draw each value of this clip column equally often, e.g. 'engine' on a pack of a "
        "`wavetag synth` set (columns engine, voice, word): an engine with few voices is then not "
        "outweighed by one with many. Clips without a value (silence) keep their share. [default: off]",
    ),
    mixup_alpha: float | None = typer.Option(None, "--mixup", help="Mixup Beta(alpha, alpha); 0 = off. [default: 0]"),
    no_augment: bool = typer.Option(False, "--no-augment", help="Turn every augmentation off."),
    talk: float | None = typer.Option(
        None,
        "--talk",
        help="Share of _unknown_ clips rewritten as windows of running speech (phrases of 2-4 training words) "
        "and of keyword clips placed between two words, for stream detection (README, 'Training for streams'). "
        "0 = off; --recipe kws sets its own. [default: 0]",
    ),
    eval_every_steps: int | None = typer.Option(
        None, "--eval-every-steps", help="Also validate (and checkpoint) every N steps. [default: each epoch only]"
    ),
    checkpoint_every_steps: int | None = typer.Option(
        None, "--checkpoint-every-steps", help="Also write last/ every N steps. [default: each epoch only]"
    ),
    keep_best_by: str | None = typer.Option(
        None,
        "--keep-best-by",
        help=f"Metric that picks best/: {MONITORS[0]} (min) or {', '.join(MONITORS[1:])} (max; the ones the "
        "pack's task logs). [default: val_loss]",
    ),
    monitor: str | None = typer.Option(
        None, "--monitor", help="Metric early stopping watches (the same choices). [default: val_loss]"
    ),
    patience: int | None = typer.Option(
        None, "--patience", help="Stop after this many validations without improvement. [default: never]"
    ),
    frontend: str | None = typer.Option(
        None, "--frontend", help="Front end name (see 'wavetag frontends'). [default: the model's]"
    ),
    frontend_set: list[str] = typer.Option(
        [], "--frontend-set", help="Front-end field KEY=VALUE, repeatable (e.g. normalize=utterance)."
    ),
    model_set: list[str] = typer.Option(
        [], "--model-set", help="Model option KEY=VALUE, repeatable (e.g. dropout=0.2)."
    ),
    pretrained: Path | None = typer.Option(
        None,
        "--pretrained",
        help="Local pretrained weights (file or directory) to start from, with a fresh head: torchvision ImageNet "
        "files for the image networks, official or Hugging Face AST / wav2vec2 / HuBERT checkpoints (models marked * "
        "in 'wavetag models'). Same as --model-set pretrained=PATH.",
    ),
    bf16: bool | None = typer.Option(
        None,
        "--bf16/--no-bf16",
        help="bfloat16 autocast of the model's backbone; front ends stay float32 unless their config says "
        "bf16_in_training (kws's Whisper encoder). [default: the recipe's: kws and kws_light use 'auto', on where the "
        "CPU computes bfloat16 natively (AVX512-BF16/AMX); otherwise off]",
    ),
    compile_model: bool | None = typer.Option(
        None, "--compile/--no-compile", help="torch.compile the training step. [default: off]"
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of every random choice (runs are repeatable on CPU). [default: 0]"
    ),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads. [default: all cores / ranks]"),
    tb_histograms_every: int | None = typer.Option(
        None,
        "--tb-histograms-every",
        help="TensorBoard histograms of every weight, bias and gradient every N steps; 0 = never. [default: at each "
        "validation]",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
    semi: bool = typer.Option(
        False,
        "--semi",
        help="Pseudo-labelling in rounds: round 0 trains on the verified train clips; each later round adds the "
        "unverified/unlabelled ones whose predicted probability lies in [lower, upper], with the predicted label "
        "(OUT/round_<r>/, OUT/semi_history.csv, OUT/best/).",
    ),
    rounds: int = typer.Option(
        3, "--rounds", help="--semi: training rounds, round 0 included. [default: 3]", show_default=False
    ),
    semi_lower: str = typer.Option(
        "0.35,0.65",
        "--semi-lower",
        help="--semi: lower probability bound START,END, linear over rounds 1.. (one number: constant). [default: "
        "0.35,0.65]",
        show_default=False,
    ),
    semi_upper: float = typer.Option(
        1.0, "--semi-upper", help="--semi: upper probability bound. [default: 1.0]", show_default=False
    ),
    epochs_per_round: int | None = typer.Option(
        None, "--epochs-per-round", help="--semi: epochs of each round. [default: --epochs]"
    ),
    semi_label_noise: str = typer.Option(
        "auto",
        "--semi-label-noise",
        help="--semi: share of wrong unverified labels; a clip's given label counts as evidence right with probability "
        "1 - this; auto = estimated each round; none = ignore given labels (the model's prediction alone). [default: "
        "auto]",
        show_default=False,
    ),
) -> None:
    """Train a model on a pack: batched augmentation, warm-up + cosine schedule, best/last
    checkpoints, history.csv and TensorBoard; exact resume after a kill. Runs under torchrun too."""
    from wavetag.cli.options import layered, parse_overrides
    from wavetag.config import config_from_dict, config_to_dict
    from wavetag.errors import ConfigError
    from wavetag.train import TrainConfig, train

    if resume is not None:
        result = train(pack or _pack_of_run(resume), None, resume, resume=True, progress=progress)
        _summary(result)
        return
    if pack is None:
        raise ConfigError("missing PACK: give the pack directory to train on, or --resume RUN")
    flags: dict = {
        "model": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "clip_seconds": clip_seconds,
        "label_smoothing": label_smoothing,
        "grad_clip_norm": grad_clip,
        "class_weights": class_weights,
        "balanced_sampler": balanced,
        "balance_by": balance_by,
        "eval_every_steps": eval_every_steps,
        "checkpoint_every_steps": checkpoint_every_steps,
        "keep_best_by": keep_best_by,
        "monitor": monitor,
        "early_stopping_patience": patience,
        "tb_histograms_every_steps": tb_histograms_every,
        "bf16": bf16,
        "compile": compile_model,
        "seed": seed,
        "threads": threads,
        "optimizer": {"name": optimizer, "lr": lr, "weight_decay": weight_decay},
        "schedule": {"name": schedule, "warmup_epochs": warmup_epochs},
        "augment": {"mixup": {"alpha": mixup_alpha}},
        "talk": {"p_unknown": talk, "p_keyword": talk},
    }
    if model_set:
        flags["model_args"] = parse_overrides(model_set, flag="--model-set")
    if pretrained is not None:
        if not pretrained.exists():
            raise ConfigError(
                f"--pretrained {pretrained}: no such file or directory; give a local weights file or checkpoint "
                "directory"
            )
        flags.setdefault("model_args", {})["pretrained"] = str(pretrained.resolve())
    if frontend or frontend_set:
        fe = parse_overrides(frontend_set, flag="--frontend-set")
        if frontend:
            fe["name"] = frontend
        flags["frontend"] = fe
    defaults = config_to_dict(TrainConfig())
    if recipe_name:
        from wavetag.config import load_yaml, merge_dicts
        from wavetag.train.recipes import recipe

        model = flags.get("model") or ((load_yaml(config_file) or {}).get("model") if config_file else None)
        defaults = merge_dicts(defaults, recipe(recipe_name, model=model if isinstance(model, str) else None))
    resolved = layered(defaults, config_file, flags, config_class=TrainConfig)
    if no_augment:
        from wavetag.augment import AugmentConfig

        resolved["augment"] = config_to_dict(AugmentConfig.off())
    config = config_from_dict(TrainConfig, resolved)
    if semi:
        from wavetag.semi.common import parse_label_noise
        from wavetag.semi.pseudo import parse_bounds, train_semi

        result = train_semi(
            pack,
            config,
            out,
            rounds=rounds,
            epochs_per_round=epochs_per_round,
            overwrite=overwrite,
            lower=parse_bounds(semi_lower, flag="--semi-lower"),
            upper=semi_upper,
            progress=progress,
            label_noise=parse_label_noise(semi_label_noise, flag="--semi-label-noise"),
        )
        console.print(result.summary())
        return
    result = train(pack, config, out, overwrite=overwrite, progress=progress)
    _summary(result)


def _pack_of_run(run: Path) -> Path:
    import json

    from wavetag.errors import CheckpointError

    for name in ("last", "last.old", "best"):
        config = run / name / "config.json"
        if config.is_file():
            return Path(json.loads(config.read_text())["pack"]["path"])
    raise CheckpointError(
        f"{run}: no checkpoint found to resume (no last/config.json); start the run again without --resume"
    )


def _summary(result) -> None:
    import os

    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return
    console.print(
        f"done: {result.epochs_done} epochs, {result.global_step} steps in {result.seconds:.0f} s"
        + (" (stopped early)" if result.stopped_early else "")
        + f"; best epoch {result.best_epoch} ({result.best_metric:.4f})\n"
        f"  best model: {result.best_dir}\n  last checkpoint: {result.last_dir}\n"
        f"  history: {result.run_dir / 'history.csv'}   TensorBoard: tensorboard --logdir {result.run_dir / 'tb'}\n"
        f"  next: wavetag evaluate {result.run_dir} PACK"
    )
