"""``wavetag compare PACK --models a,b@mfcc,c``: same pack, split and budget; one leaderboard."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from wavetag.cli.app import app, console


@app.command("compare")
def compare_command(
    pack: Path = typer.Argument(..., help="Pack directory made by 'wavetag prepare'."),
    models: str | None = typer.Option(
        None,
        "--models",
        help="Comma-separated entries MODEL or MODEL@FRONTEND (see 'wavetag models', 'wavetag frontends'), e.g. "
        "cnn1d,cnn2d@mfcc,cnn2d@spectrogram: one model may run on several front ends.",
    ),
    models_file: Path | None = typer.Option(
        None,
        "--models-file",
        help="YAML file with 'models:', a list of entries, instead of --models: 'cnn1d', 'cnn2d@mfcc', or mappings "
        "{model, frontend (name or mapping), model_args, label}.",
    ),
    out: Path = typer.Option(
        Path("runs/compare"), "--out", "-o", help="Directory for one run per model and the leaderboard."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Epochs per model (the same for all). [default: the config's, 20]"
    ),
    minutes: float | None = typer.Option(
        None,
        "--minutes",
        help="Wall-clock training budget per model, in minutes; sets each model's epochs from a timed probe.",
    ),
    config_file: Path | None = typer.Option(
        None, "--config", "-c", help="YAML of TrainConfig fields shared by every model."
    ),
    split: str = typer.Option("test", "--split", help="Split the leaderboard is measured on."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Clips per step. [default: 64]"),
    seed: int | None = typer.Option(None, "--seed", help="Seed shared by every model. [default: 0]"),
    frontend_set: list[str] = typer.Option(
        [],
        "--frontend-set",
        help="Front-end field KEY=VALUE applied to every model's default front end (e.g. normalize=utterance).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train each model on the same pack, split and budget, evaluate each, and write a
    leaderboard (Markdown, CSV, bar chart): family, input kind and front end, task metric,
    macro-F1, parameters, MACs, training time and single-clip latency (eager PyTorch, one thread)."""
    from wavetag.cli.options import layered, parse_overrides
    from wavetag.config import config_from_dict, config_to_dict
    from wavetag.errors import ConfigError
    from wavetag.train import TrainConfig
    from wavetag.train.compare import compare

    if epochs is not None and minutes is not None:
        raise ConfigError("give --epochs or --minutes, not both")
    flags = {"epochs": epochs, "batch_size": batch_size, "seed": seed}
    resolved = layered(config_to_dict(TrainConfig()), config_file, flags, config_class=TrainConfig)
    if frontend_set:
        resolved["frontend"] = {
            **(resolved.get("frontend") or {}),
            **parse_overrides(frontend_set, flag="--frontend-set"),
        }
    config = config_from_dict(TrainConfig, resolved)
    entries = _entries(models, models_file)
    result = compare(pack, entries, out_dir=out, config=config, minutes=minutes, split=split, progress=progress)
    table = Table(
        "model", "family", "input", "front end", "metric", "macro-F1", "params", "MACs", "train s", "latency ms"
    )
    for r in result.rows:
        table.add_row(
            r["model"],
            r["family"],
            r["input_kind"],
            r["frontend"],
            _f(r["metric"]),
            _f(r["macro_f1"]),
            f"{r['params']:,}",
            f"{r['macs'] / 1e6:.2f}M",
            f"{r['train_time_s']:.0f}",
            f"{r['latency_ms']:.2f}",
        )
    console.print(table)
    console.print(
        f"leaderboard: {result.leaderboard.markdown}\n             {result.leaderboard.csv}\n             "
        f"{result.leaderboard.chart}"
    )


def _entries(models: str | None, models_file: Path | None) -> list:
    from wavetag.config import load_yaml
    from wavetag.errors import ConfigError

    if (models is None) == (models_file is None):
        raise ConfigError(
            "give the models to compare with --models a,b@frontend or --models-file FILE.yaml (one of the two)"
        )
    if models is not None:
        return [m.strip() for m in models.split(",") if m.strip()]
    entries = load_yaml(models_file).get("models")
    if not isinstance(entries, list):
        raise ConfigError(f"{models_file}: expected 'models:' with a list of entries, found {type(entries).__name__}")
    return entries


def _f(value) -> str:
    return "-" if value is None else f"{value:.4f}"
