"""``wavetag train-autoencoder PACK -o DIR``: a convolutional autoencoder whose bottleneck is an embedding."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console


@app.command("train-autoencoder")
def train_autoencoder_command(
    pack: Path = typer.Argument(
        ..., help="Pack directory made by 'wavetag prepare' (trains on its train split; labels unused)."
    ),
    out: Path = typer.Option(
        Path("runs/autoencoder"),
        "--out",
        "-o",
        help="Directory to write: config.json, model.safetensors, history.csv, reconstructions.png.",
    ),
    bottleneck: int = typer.Option(
        64, "--bottleneck", help="Embedding width (units in the bottleneck). [default: 64]", show_default=False
    ),
    epochs: int = typer.Option(10, "--epochs", help="Passes over the train split. [default: 10]", show_default=False),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per step. [default: 32]", show_default=False),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate. [default: 0.001]", show_default=False),
    n_mels: int = typer.Option(
        64,
        "--n-mels",
        help="Mel bands of the log-mel input; must divide by 2^stages (16 by default). [default: 64]",
        show_default=False,
    ),
    clip_seconds: float | None = typer.Option(
        None, "--clip-seconds", help="Crop length in seconds. [default: the pack's clip length, else 1.0]"
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the initialisation and the crops. [default: 0]", show_default=False
    ),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads. [default: all cores]"),
) -> None:
    """Train a convolutional autoencoder on log-mel crops (MSE); 'wavetag embed DIR PACK' then
    gives label-free embeddings for 'wavetag relabel'."""
    from wavetag.semi.autoencoder import DEFAULT_FRONTEND, AutoencoderConfig, train_autoencoder

    config = AutoencoderConfig(
        bottleneck=bottleneck,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        threads=threads,
        clip_seconds=clip_seconds,
        frontend={**DEFAULT_FRONTEND, "n_mels": n_mels},
    )
    result = train_autoencoder(pack, config, out, log=console.print)
    last = result.history[-1]
    console.print(
        f"done in {result.seconds:.0f} s: train MSE {last['train_mse']:.4f}, validation MSE {last['val_mse']:.4f}\n"
        f"  autoencoder: {result.out_dir}\n  reconstructions: {result.reconstructions}\n"
        f"  next: wavetag embed {result.out_dir} {pack} -o embeddings.npy"
    )
