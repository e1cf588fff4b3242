"""``wavetag frontends [NAME]``: list the front ends, show one's options, or plot its output."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import typer
from rich.table import Table

from wavetag.cli.app import app, console


@app.command("frontends")
def frontends_command(
    name: str | None = typer.Argument(None, help="A front end to describe (omit to list them all)."),
    option: list[str] = typer.Option(
        [], "--set", "-s", help="Config override KEY=VALUE (YAML value), repeatable, e.g. -s n_mels=64."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Audio file to run the front end on (first channel mixed down)."
    ),
    output: Path = typer.Option(Path("features.png"), "--output", "-o", help="Where --plot writes its PNG."),
    sample_rate: int = typer.Option(16000, "--sample-rate", help="Sample rate in Hz the audio is resampled to."),
) -> None:
    """List the feature front ends, show one's config fields and defaults, or plot its features."""
    import yaml

    from wavetag.frontends import FRONTENDS, create_frontend

    if name is None:
        table = Table("front end", "output", "description")
        for n in FRONTENDS.names():
            cls = FRONTENDS.get(n)
            doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
            table.add_row(n, cls.output_kind, doc.replace("``", ""))
        console.print(table)
        return
    overrides = {}
    for item in option:
        key, sep, value = item.partition("=")
        if not sep:
            from wavetag.errors import ConfigError

            raise ConfigError(f"--set {item!r}; expected KEY=VALUE, e.g. --set n_mels=64")
        overrides[key.strip()] = yaml.safe_load(value)
    fe = create_frontend(name, sample_rate=sample_rate, **overrides)
    if plot is None:
        table = Table("field", "value", "default")
        for f in dataclasses.fields(fe.config):
            default = f.default if f.default is not dataclasses.MISSING else ""
            table.add_row(f.name, repr(getattr(fe.config, f.name)), repr(default))
        console.print(f"{name}: output {fe.output_kind}, shape per 1-s clip {fe.output_shape(sample_rate)}")
        console.print(table)
        return
    _plot_features(fe, plot, output)


def _plot_features(fe, path: Path, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from wavetag import audio

    x, sr = audio.load(path, sample_rate=fe.sample_rate)
    with torch.no_grad():
        feats = fe(torch.from_numpy(x).view(1, 1, -1))[0]
    image = feats[0] if feats.dim() == 3 else feats
    fig, ax = plt.subplots(figsize=(8, 3), constrained_layout=True)
    ax.imshow(image.numpy(), origin="lower", aspect="auto", interpolation="nearest")
    ax.set_title(f"{path.name}: {fe.name} {tuple(feats.shape)}")
    fig.savefig(output, dpi=100)
    plt.close(fig)
    console.print(f"wrote {output}")
