"""``wavetag`` command line: one module per command, registered on import.

A command is parse -> config -> one library call -> summary. Only `WavetagError` is caught here
(one clear line, exit 1); anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import importlib
import sys

from wavetag.errors import WavetagError

# Command modules under wavetag/cli/, in the order `wavetag --help` lists them.
COMMANDS = [
    "info",
    "frontends",
    "models",
    "prepare",
    "explore",
    "synth",
    "train",
    "evaluate",
    "compare",
    "embed",
    "train_autoencoder",
    "relabel",
    "ensemble",
    "predict",
    "detect",
    "listen",
    "streams",
    "export",
    "serve",
    "demo",
]


def _load_commands():
    from wavetag.cli.app import app

    for name in COMMANDS:
        importlib.import_module(f"wavetag.cli.{name}")
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``wavetag`` script and ``python -m wavetag``."""
    app = _load_commands()
    try:
        app(args=argv, prog_name="wavetag")
    except WavetagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
