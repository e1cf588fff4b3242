"""What a run shows while it trains: a progress bar, ``history.csv`` and TensorBoard scalars and histograms.

Only rank 0 logs. On resume, ``history.csv`` rows past the checkpoint are dropped and
TensorBoard events after it are purged (``purge_step``), so curves have no doubled stretch.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

HISTORY_FILE = "history.csv"


class RunLogger:
    def __init__(
        self,
        run_dir: Path,
        *,
        enabled: bool,
        tensorboard: bool,
        purge_step: int | None,
        progress: bool,
        verbose: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.show_progress = progress and enabled
        self.verbose = verbose and enabled
        self._rows = self._read_history(purge_step) if enabled else []
        self._writer = None
        self._progress: Progress | None = None
        if enabled:
            self._rewrite_history()
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge_step)

    # --- console -------------------------------------------------------------------------
    def note(self, text: str) -> None:
        if self.verbose:
            self.console.print(text)

    def epoch_bar(self, epoch: int, epochs: int, steps: int, *, start: int = 0):
        if not self.show_progress:
            return None
        self._progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        return self._progress.add_task("train", total=steps, completed=start, stats="")

    def step(
        self, bar, global_step: int, *, loss: float, acc: float, lr: float, clips_per_s: float, log_every: int
    ) -> None:
        if not self.enabled:
            return
        if self._writer is not None and global_step % max(1, log_every) == 0:
            self._writer.add_scalar("train/loss_step", loss, global_step)
            self._writer.add_scalar("train/lr", lr, global_step)
        if bar is not None and self._progress is not None:
            self._progress.update(
                bar, advance=1, stats=f"loss {loss:.3f} acc {acc:.3f} lr {lr:.2g} {clips_per_s:,.0f} clips/s"
            )

    def close_bar(self, bar) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # --- validation ----------------------------------------------------------------------
    def log_validation(self, row: dict[str, Any], val, labels: list[str], *, confusion: bool) -> None:
        self._rows.append(row)
        self._rewrite_history()
        step = int(row["step"])
        if self._writer is not None:
            for key, value in row.items():
                if (
                    key in ("epoch", "step")
                    or value is None
                    or not isinstance(value, (int, float))
                    or math.isnan(value)
                ):
                    continue
                group = "train" if key.startswith("train_") else "val" if key.startswith("val_") else "opt"
                self._writer.add_scalar(f"{group}/{key.split('_', 1)[-1]}", value, step)
            if confusion and getattr(val, "confusion", None) is not None:
                self._writer.add_figure("val/confusion_matrix", _confusion_figure(val.confusion, labels), step)
        if self.verbose:
            shown = {k: v for k, v in row.items() if k.startswith(("train_", "val_")) and isinstance(v, float)}
            self.console.print(
                f"epoch {row['epoch']} step {step}: " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
            )

    def history(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def histograms(self, model, global_step: int) -> None:
        """TensorBoard histograms of every parameter (``weights/<name>``) and of its gradient
        (``grads/<name>``, when the last step left one)."""
        if self._writer is None:
            return
        for name, param in model.named_parameters():
            self._writer.add_histogram(f"weights/{name}", param.detach().float(), global_step)
            if param.grad is not None:
                self._writer.add_histogram(f"grads/{name}", param.grad.detach().float(), global_step)

    # --- history.csv ---------------------------------------------------------------------
    def _read_history(self, purge_step: int | None) -> list[dict[str, Any]]:
        path = self.run_dir / HISTORY_FILE
        if purge_step is None or not path.is_file():
            return []
        with path.open() as f:
            rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
        return [r for r in rows if int(r["step"]) <= purge_step]

    def _rewrite_history(self) -> None:
        path = self.run_dir / HISTORY_FILE
        keys: list[str] = []
        for row in self._rows:
            keys += [k for k in row if k not in keys]
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys or ["epoch", "step"])
            writer.writeheader()
            writer.writerows(self._rows)
        tmp.replace(path)


def _number(text: str) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _confusion_figure(cm, labels: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.35 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size), constrained_layout=True)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig
