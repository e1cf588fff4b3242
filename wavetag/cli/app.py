"""The typer application every command module adds itself to."""

from __future__ import annotations

import typer
from rich.console import Console

from wavetag import __version__

app = typer.Typer(
    name="wavetag",
    help=(
        "wavetag: raw audio in, trusted classifiers out.\n\n"
        "Typical flow: synth/prepare -> explore -> train/compare -> evaluate -> export/predict/serve. "
        "Run 'wavetag COMMAND --help' for the options of a command (units and defaults included)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

console = Console(stderr=False)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"wavetag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """wavetag command-line interface."""
