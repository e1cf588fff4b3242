"""``wavetag info FILE...``: what an audio file holds, read from its header (levels optional)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from wavetag.cli.app import app, console, err_console


@app.command("info")
def info_command(
    files: list[Path] = typer.Argument(..., help="Audio files (WAV, FLAC, OGG/Vorbis, MP3, AIFF).", show_default=False),
    levels: bool = typer.Option(
        False, "--levels", help="Also decode each file and report its peak and RMS level in dBFS."
    ),
) -> None:
    """Show sample rate, channels, duration, container and codec of audio files (header only).
    A file that cannot be read is reported on stderr and the others are still shown; the exit
    code is then 1."""
    from wavetag import audio
    from wavetag.errors import WavetagError

    table = Table(
        "file",
        "format",
        "codec",
        "rate (Hz)",
        "channels",
        "duration (s)",
        *(["peak (dBFS)", "RMS (dBFS)"] if levels else []),
    )
    errors = []
    for path in files:
        try:
            i = audio.info(path)
            row = [str(path), i.format, i.subtype, str(i.sample_rate), str(i.channels), f"{i.duration_s:.3f}"]
            if levels:
                x, _ = audio.load(path)
                row += [f"{audio.peak_dbfs(x):.1f}", f"{audio.rms_dbfs(x):.1f}"]
        except WavetagError as exc:
            errors.append(str(exc))
            continue
        table.add_row(*row)
    if table.row_count:
        console.print(table)
    for message in errors:
        err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(code=1)
