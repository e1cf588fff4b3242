"""``wavetag ensemble MODEL... -o OUT --method mean|geometric|weighted``: several models, one model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console


@app.command("ensemble")
def ensemble_command(
    models: list[Path] = typer.Argument(
        ..., help="Two or more model or run directories with the same labels, sample rate and window."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Ensemble model directory to write (config.json + model.safetensors)."
    ),
    method: str = typer.Option(
        "mean",
        "--method",
        help="mean (arithmetic mean of probabilities), geometric (normalised geometric mean) or weighted (weights "
        "searched on the validation split of --pack). [default: mean]",
        show_default=False,
    ),
    pack: Path | None = typer.Option(
        None,
        "--pack",
        help="Pack whose validation split scores the members (and searches the weights for --method weighted).",
    ),
    weights: str | None = typer.Option(
        None, "--weights", help="Fixed weights, one per model, comma-separated (instead of the search)."
    ),
) -> None:
    """Combine trained models into one ensemble model directory that predict, evaluate, serve
    and export take like any model."""
    from wavetag.errors import ConfigError
    from wavetag.models.io import read_config
    from wavetag.semi.ensemble import build_ensemble

    fixed = None
    if weights:
        try:
            fixed = [float(w) for w in weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights {weights!r}; expected numbers separated by commas, one per model") from None
    path = build_ensemble(models, out, method=method, pack=pack, weights=fixed)
    info = read_config(path)["ensemble"]
    console.print(
        f"ensemble of {len(models)} models ({method}), weights {', '.join(f'{w:.3f}' for w in info['weights'])}: "
        f"{path}",
        markup=False,
    )
    val = info.get("validation")
    if val:
        for row in val["members"]:
            console.print(
                f"  {row['model']}: validation accuracy {row['accuracy']:.4f}, log-loss {row['log_loss']:.4f}",
                markup=False,
            )
        e = val["ensemble"]
        console.print(
            f"  ensemble: validation accuracy {e['accuracy']:.4f}, log-loss {e['log_loss']:.4f} ({val['clips']} clips)"
        )
        d = val.get("diversity")
        if d:
            overlap = "n/a" if d["error_overlap"] is None else f"{d['error_overlap']:.2f}"
            console.print(
                f"  members: error overlap {overlap} (1 = the same mistakes), disagreement {d['disagreement']:.1%}, "
                f"at least one right on {d['oracle_accuracy']:.1%} of the clips",
                markup=False,
            )
        if val.get("note"):
            console.print(f"  note: {val['note']}", markup=False)
    console.print(
        f"  next: wavetag evaluate {path} PACK   |   wavetag export {path}   |   wavetag serve {path}", markup=False
    )
