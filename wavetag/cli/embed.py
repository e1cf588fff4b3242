"""``wavetag embed MODEL PACK -o E.npy``: per-clip embeddings (for ``wavetag relabel``)."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console


@app.command("embed")
def embed_command(
    model: Path = typer.Argument(
        ...,
        help="Model or run directory ('wavetag train': forward_features), or an autoencoder directory ('wavetag "
        "train-autoencoder': its bottleneck).",
    ),
    pack: Path = typer.Argument(..., help="Pack directory made by 'wavetag prepare', at the model's sample rate."),
    out: Path = typer.Option(
        Path("embeddings.npy"),
        "--out",
        "-o",
        help="Embeddings file to write (.npy, float32 [clips, dims]); E.json beside it says what it was made from.",
    ),
    split: str = typer.Option(
        "all", "--split", help="Clips to embed: all (what relabel needs), train, validation or test."
    ),
    batch_size: int = typer.Option(128, "--batch-size", help="Windows per forward pass."),
    hop_s: float | None = typer.Option(
        None, "--hop-s", help="Hop between windows over long clips, in seconds. [default: half the model's window]"
    ),
) -> None:
    """Embed every clip of a pack: windows of the model's length over each clip (as evaluation
    slides them), their embeddings averaged per clip."""
    from wavetag.data import Pack
    from wavetag.semi.embeddings import embed, save_embeddings

    the_pack = Pack.open(pack)
    emb = embed(model, the_pack, split=split, batch_size=batch_size, hop_s=hop_s)
    path = save_embeddings(out, emb, pack=the_pack, model_dir=model, split=split)
    console.print(
        f"embedded {emb.shape[0]:,} clips ({split}) into {emb.shape[1]} dimensions: {path}\n"
        f"  next: wavetag relabel {pack} --embeddings {path} -o PACK_RELABELLED"
    )
