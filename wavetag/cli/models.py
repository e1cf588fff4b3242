"""``wavetag models``: the model zoo as a table (name, family, input kind, default front end,
parameters, MACs per clip)."""

from __future__ import annotations

import typer

from wavetag.cli.app import app

FORMATS = ("table", "csv", "json")
COLUMNS = ("name", "family", "input_kind", "frontend", "params", "macs")


@app.command("models")
def models_command(
    family: str = typer.Option(None, "--family", help="Only this family (e.g. bc_resnet, kwt). Default: all."),
    fmt: str = typer.Option("table", "--format", help="Output format: table, csv or json. Default: table."),
    num_classes: int = typer.Option(
        12, "--num-classes", help="Classes the parameter count assumes (head size). Default: 12."
    ),
    clip_seconds: float = typer.Option(
        1.0, "--clip-seconds", help="Clip length in seconds for sizing and the MAC count. Default: 1.0."
    ),
) -> None:
    """List the models: parameters and multiply-accumulates per clip (Conv/Linear layers and
    attention matmuls, front end excluded), as the papers count them."""
    from wavetag.config import check_choice
    from wavetag.models.summary import model_table

    check_choice("--format", fmt, FORMATS)
    rows = model_table(family=family, num_classes=num_classes, clip_seconds=clip_seconds)
    if fmt == "json":
        import json

        print(json.dumps(rows, indent=2))
    elif fmt == "csv":
        import csv
        import sys

        writer = csv.DictWriter(sys.stdout, fieldnames=[*COLUMNS, "pretrained", "source"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_table(rows, num_classes=num_classes, clip_seconds=clip_seconds)


def _print_table(rows: list[dict], *, num_classes: int, clip_seconds: float) -> None:
    from wavetag.models.summary import format_table

    print(f"wavetag models: parameters for {num_classes} classes, MACs per {clip_seconds:g} s clip")
    print(format_table(rows))
    print(
        "* loads local pretrained weights (--pretrained PATH). +: also takes any front end, a spectral feature "
        "[B, C, F, frames] read as C·F channels (e.g. --frontend spectrogram --model-set pool=2). MACs count "
        "Conv/Linear layers and attention matmuls; the front end, norms and activations are not counted."
    )
