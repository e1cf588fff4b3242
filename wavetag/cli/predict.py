"""``wavetag predict MODEL FILES|DIRS...``: classify recordings; long ones by sliding windows."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import typer

from wavetag.cli.app import app, err_console

FORMATS = ("table", "json", "csv")


@app.command("predict")
def predict_command(
    model: Path = typer.Argument(
        ..., help="Model directory (config.json + model.safetensors), or a run directory (uses its best/)."
    ),
    inputs: list[Path] = typer.Argument(
        ...,
        help="Audio files and folders (searched recursively for .wav/.flac/.ogg/.mp3/.aiff/...); any sample rate or "
        "channel count.",
    ),
    top_k: int = typer.Option(3, "--top-k", help="Classes listed per file, best first."),
    fmt: str = typer.Option("table", "--format", help="Output: table, json or csv."),
    windows: bool = typer.Option(
        False,
        "--windows",
        help="Also report every window of files longer than the model's window, with its start and end time in "
        "seconds.",
    ),
    hop_s: float | None = typer.Option(
        None, "--hop-s", help="Hop between windows on long files, in seconds. [default: half the model's window]"
    ),
    backend: str = typer.Option(
        "torch", "--backend", help="torch, or onnx (ONNX Runtime; the model is exported once to MODEL/.cache/)."
    ),
    batch_size: int = typer.Option(
        64, "--batch-size", help="Windows per forward pass (windows of several files share a batch)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Intra-op threads. [default: torch's / all cores for onnx]"
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the results to this file. [default: stdout]"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Classify audio files with a trained model: label, score and top-k per file. Files longer
    than the model's window are cut into windows whose logits are averaged. Unreadable files are
    reported with their error and the others still run; the exit code is then 1."""
    from wavetag.config import check_choice
    from wavetag.inference.inputs import expand_inputs
    from wavetag.inference.predictor import Predictor

    check_choice("--format", fmt, FORMATS)
    predictor = Predictor.load(model, backend=backend, threads=threads)
    skipped: list = []
    files = expand_inputs(inputs, skipped=skipped)
    with _bar(progress and len(files) > 1, len(files)) as advance:
        results = predictor.predict_many(
            [str(f) for f in files],
            batch_size=batch_size,
            top_k=top_k,
            windows=windows,
            hop_s=hop_s,
            progress=advance,
            on_error="report",
        )
    text = render(results, fmt, windows=windows)
    if out is not None:  # written beside, then renamed: an earlier file is replaced whole or not at all
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.new")
        tmp.write_text(text)
        tmp.replace(out)
    else:
        sys.stdout.write(text)
    failed = [r for r in results if r.error is not None]
    for r in skipped:
        err_console.print(f"skipped {r.path}: {r.reason} ({r.detail})", markup=False, highlight=False)
    for r in results:  # where an answer may be wrong (a truncated file, a clip far shorter than the window)
        for warning in r.warnings:
            err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    done = f"{len(results) - len(failed)} of {len(results)} files classified" + (f"; results in {out}" if out else "")
    done += f"; {len(failed)} could not be read (see their error)" if failed else ""
    done += f"; {len(skipped)} entries skipped (listed above)" if skipped else ""
    err_console.print(done, markup=False)
    if failed or skipped:
        raise typer.Exit(code=1)


def render(results: list, fmt: str, *, windows: bool) -> str:
    """Predictions as a text table, JSON (a list of objects) or CSV."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in results], indent=2) + "\n"
    if fmt == "csv":
        return _csv(results, windows=windows)
    return _table(results, windows=windows)


def _label(label) -> str:
    return ";".join(label) if isinstance(label, list) else str(label)


def _csv(results: list, *, windows: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["file", "label", "score", "top_k", "duration_s", "error"]
    writer.writerow(head[:1] + (["start_s", "end_s"] if windows else []) + head[1:])
    for r in results:
        if r.error is not None:
            writer.writerow([r.source] + (["", ""] if windows else []) + ["", "", "", "", r.error])
            continue
        top = ";".join(f"{k}:{v:.4f}" for k, v in r.top_k)
        span = [0.0, round(r.duration_s, 4)] if windows else []
        writer.writerow([r.source, *span, _label(r.label), f"{r.score:.4f}", top, round(r.duration_s, 4), ""])
        for w in (r.windows or []) if windows else []:
            writer.writerow(
                [r.source, round(w.start_s, 4), round(w.end_s, 4), _label(w.label), f"{w.score:.4f}", "", "", ""]
            )
    return buf.getvalue()


def _table(results: list, *, windows: bool) -> str:
    lines = []
    width = max([len(str(r.source)) for r in results] + [4])
    lines.append(f"{'file':<{width}}  {'label':<16} {'score':>6}  top-k")
    for r in results:
        if r.error is not None:
            lines.append(f"{r.source:<{width}}  ERROR  {r.error}")
            continue
        top = ", ".join(f"{k} {v:.3f}" for k, v in r.top_k)
        lines.append(f"{r.source:<{width}}  {_label(r.label):<16} {r.score:>6.3f}  {top}")
        for w in (r.windows or []) if windows else []:
            span = f"{w.start_s:8.2f}-{w.end_s:.2f} s"
            lines.append(f"{'':<{width}}  {_label(w.label):<16} {w.score:>6.3f}  {span}")
    return "\n".join(lines) + "\n"


class _bar:
    """A rich progress bar on stderr whose ``advance(n)`` the predictor calls; nothing when off."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._progress = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("predict"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._progress.start()
        task = self._progress.add_task("predict", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
