"""`write_leaderboard`: the `wavetag compare` table as Markdown, CSV and a bar chart."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wavetag.errors import DataError
from wavetag.evaluate import plots
from wavetag.evaluate.report import md_escape

# row key, Markdown header, CSV header
COLUMNS = (
    ("model", "model", "model"),
    ("family", "family", "family"),
    ("input_kind", "input", "input_kind"),
    ("frontend", "front end", "frontend"),
    ("metric", None, "task_metric"),  # the Markdown header is the metric's name
    ("macro_f1", "macro-F1", "macro_f1"),
    ("params", "params", "params"),
    ("macs", "MACs", "macs"),
    ("train_time_s", "train time s", "train_time_s"),
    ("latency_ms", "latency ms", "latency_ms"),
)
TEXT_COLUMNS = ("model", "family", "input_kind", "frontend")


@dataclass
class LeaderboardPaths:
    markdown: Path
    csv: Path
    chart: Path


def write_leaderboard(
    out_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    *,
    metric_name: str = "task metric",
    higher_is_better: bool = True,
) -> LeaderboardPaths:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.png`` into ``out_dir``.

    ``rows``: one dict per model with ``model`` (name) and ``metric`` (the task metric; None if
    it could not be measured), and optionally ``family``, ``input_kind``, ``frontend`` (text),
    ``macro_f1``, ``params`` (count), ``macs`` (multiply-accumulates per clip), ``train_time_s``
    and ``latency_ms`` (single clip); missing values are left blank. Rows are sorted by the
    metric, best first (``higher_is_better`` False for e.g. EER); rows without a metric go last.
    """
    if not rows:
        raise DataError("the leaderboard has no rows; expected one dict per model compared")
    for i, row in enumerate(rows):
        if "model" not in row or "metric" not in row:
            raise DataError(f"leaderboard row {i} lacks 'model' or 'metric' (keys: {', '.join(map(str, row))})")
    ranked = sorted(rows, key=lambda r: _sort_key(r["metric"], higher_is_better))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = LeaderboardPaths(out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.png")
    paths.markdown.write_text(_markdown(ranked, metric_name, higher_is_better), encoding="utf-8")
    _write_csv(paths.csv, ranked, metric_name)
    plots.plot_leaderboard(
        [_chart_label(r) for r in ranked],
        [_number(r["metric"]) for r in ranked],
        paths.chart,
        metric_name=metric_name,
        groups=[r.get("family") for r in ranked],
    )
    return paths


def _chart_label(row: dict[str, Any]) -> str:
    """``"cnn2d@mfcc (image, mfcc 40/40)"``: the model, then what it reads, when known."""
    details = ", ".join(str(row[k]) for k in ("input_kind", "frontend") if row.get(k))
    return f"{row['model']} ({details})" if details else str(row["model"])


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _sort_key(metric: Any, higher_is_better: bool) -> tuple[int, float]:
    value = _number(metric)
    if value is None:
        return (1, 0.0)
    return (0, -value if higher_is_better else value)


def _si(value: Any) -> str:
    """``1234567`` → ``"1.23 M"``."""
    value = _number(value)
    if value is None:
        return ""
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.0f}"


def _cell(key: str, value: Any) -> str:
    if key in TEXT_COLUMNS:
        return "" if value is None else md_escape(value)
    if key in ("params", "macs"):
        return _si(value)
    number = _number(value)
    if number is None:
        return ""
    if key in ("metric", "macro_f1"):
        return f"{number:.4f}"
    return f"{number:.2f}" if key == "latency_ms" else f"{number:.1f}"


def _markdown(rows: list[dict[str, Any]], metric_name: str, higher_is_better: bool) -> str:
    headers = ["#"] + [md_escape(md or metric_name) for _, md, _ in COLUMNS]
    lines = [
        "# Leaderboard",
        "",
        f"Sorted by {md_escape(metric_name)}, {'higher' if higher_is_better else 'lower'} is better. "
        "Params and MACs per clip; latency for one clip.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    for rank, row in enumerate(rows, start=1):
        lines.append(f"| {rank} | " + " | ".join(_cell(key, row.get(key)) for key, _, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, rows: list[dict[str, Any]], metric_name: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["rank", *(c for _, _, c in COLUMNS), "metric_name"])
        for rank, row in enumerate(rows, start=1):
            values = ["" if row.get(key) is None else row[key] for key, _, _ in COLUMNS]
            w.writerow([rank, *values, metric_name])
