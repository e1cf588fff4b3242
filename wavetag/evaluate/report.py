"""`write_report`: metrics.json, predictions.csv, report.md, report.html and plots/*.png.

The HTML page needs no network: plots are ``<img src="plots/...">`` beside it, and each
misclassified clip shown gets ``audio/NNN.wav`` (16-bit) with an ``<audio>`` player and
``spectrograms/NNN.png``, so a person can listen to what went wrong. Every string that came from
the user (file names, labels, title) is escaped.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavetag import audio
from wavetag.errors import DataError
from wavetag.evaluate import plots
from wavetag.evaluate.breakdown import breakdown_markdown
from wavetag.evaluate.compute import to_json_ready
from wavetag.evaluate.reference import reference_markdown

PREDICTION_KEYS = ("index", "path", "true", "predicted", "score", "top3")
MAX_AUDIO_S = 30.0  # longer misclassified clips are cut to this in the report's audio/
PER_CLASS_COLUMNS = ("precision", "recall", "f1", "support", "ap")

GetAudio = Callable[[int], "tuple[np.ndarray, int]"]


@dataclass
class ReportPaths:
    """Where `write_report` put things (all inside ``out_dir``)."""

    out_dir: Path
    metrics_json: Path
    predictions_csv: Path
    report_md: Path
    report_html: Path
    plots: dict[str, Path] = field(default_factory=dict)
    audio: list[Path] = field(default_factory=list)


@dataclass
class _Example:
    number: int
    record: dict[str, Any]
    audio: str | None = None  # relative paths, for the pages
    spectrogram: str | None = None


def write_report(
    out_dir: str | Path,
    *,
    metrics: dict[str, Any],
    labels: Sequence[str],
    task: str,
    predictions: Sequence[dict[str, Any]],
    get_audio: GetAudio | None = None,
    history_csv: str | Path | None = None,
    title: str = "wavetag evaluation",
    split: str | None = None,
    max_examples: int = 50,
) -> ReportPaths:
    """Write the evaluation report of one model on one split into ``out_dir``.

    ``metrics``: `compute_metrics` output. ``predictions``: one dict per clip with ``index``
    (int, passed to ``get_audio``), ``path`` (source file name), ``true`` (label, or list of
    labels), ``predicted`` (label, or list of labels for multi-label), ``score`` (probability of
    the prediction) and ``top3`` (list of ``(label, probability)``). A clip is misclassified when
    ``predicted`` differs from ``true`` (multi-label with one predicted label: when it is not
    among the true ones). ``get_audio(index) -> (samples [T] float in [-1, 1], sample_rate)``
    feeds the audio players and spectrograms of the first ``max_examples`` misclassified clips,
    most confident mistakes first (None: no audio). ``history_csv``: the run's training history,
    for the training curves. ``split`` names the split evaluated (falls back to
    ``metrics["split"]``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = [_check_record(i, r) for i, r in enumerate(predictions)]
    split = split or metrics.get("split") or "not stated"
    labels = [str(x) for x in labels]
    paths = ReportPaths(out, out / "metrics.json", out / "predictions.csv", out / "report.md", out / "report.html")
    _write_json(paths.metrics_json, {**metrics, "split": split})
    _write_predictions_csv(paths.predictions_csv, records)
    paths.plots = _write_plots(out / "plots", metrics, labels, history_csv)
    wrong = sorted((r for r in records if _is_wrong(r)), key=lambda r: -float(r["score"]))
    examples = [_Example(k, r) for k, r in enumerate(wrong[:max_examples])]
    if get_audio is not None:
        paths.audio = _write_examples(out, examples, get_audio)
    page = _Page(title, split, task, metrics, paths.plots, examples, len(wrong))
    paths.report_md.write_text(page.markdown(), encoding="utf-8")
    paths.report_html.write_text(page.html(), encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------- files


def _check_record(i: int, record: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in PREDICTION_KEYS if k not in record]
    if missing:
        raise DataError(f"prediction record {i} lacks {', '.join(missing)}; expected keys {', '.join(PREDICTION_KEYS)}")
    return record


def _is_wrong(record: dict[str, Any]) -> bool:
    true, pred = record["true"], record["predicted"]
    if isinstance(true, (list, tuple)):
        if isinstance(pred, (list, tuple)):
            return set(map(str, pred)) != set(map(str, true))
        return str(pred) not in set(map(str, true))
    return str(pred) != str(true)


def _joined(value: Any) -> str:
    return ";".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _top3_text(top3: Sequence[Sequence[Any]], sep: str = ";") -> str:
    return sep.join(f"{label}:{float(p):.3f}" for label, p in top3)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(to_json_ready(data), indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _write_predictions_csv(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["index", "path", "true", "predicted", "score", "correct", "top3"])
        for r in records:
            w.writerow(
                [
                    r["index"],
                    r["path"],
                    _joined(r["true"]),
                    _joined(r["predicted"]),
                    f"{float(r['score']):.6f}",
                    int(not _is_wrong(r)),
                    _top3_text(r["top3"]),
                ]
            )


def _write_plots(plot_dir: Path, metrics: dict[str, Any], labels: list[str], history_csv: Any) -> dict[str, Path]:
    made: dict[str, Path] = {}
    cm = metrics.get("confusion_matrix")
    if cm:
        made["confusion_matrix"] = plots.plot_confusion_matrix(
            cm["counts"], cm["labels"], plot_dir / "confusion_matrix.png"
        )
    rows = metrics.get("per_class") or []
    if rows:
        made["per_class_f1"] = plots.plot_per_class(
            [r["label"] for r in rows], [r["f1"] for r in rows], plot_dir / "per_class_f1.png", name="F1"
        )
    if rows and "ap" in rows[0]:
        made["per_class_ap"] = plots.plot_per_class(
            [r["label"] for r in rows], [r["ap"] for r in rows], plot_dir / "per_class_ap.png", name="AP"
        )
    cal = metrics.get("calibration")
    if cal:
        made["reliability"] = plots.plot_reliability(cal["bins"], plot_dir / "reliability.png", ece=cal["ece"])
    roc = metrics.get("roc")
    if roc:
        overall = metrics.get("overall", {})
        made["roc_curve"] = plots.plot_roc_curve(
            roc["fpr"], roc["tpr"], plot_dir / "roc_curve.png", auc=overall.get("roc_auc"), eer=overall.get("eer")
        )
    if history_csv is not None and Path(history_csv).is_file():
        metric_name = (metrics.get("task_metric") or {}).get("name") or "accuracy"
        curves = plots.plot_training_curves(history_csv, plot_dir / "training_curves.png", metric_name=metric_name)
        if curves is not None:
            made["training_curves"] = curves
    return made


def _write_examples(out: Path, examples: list[_Example], get_audio: GetAudio) -> list[Path]:
    written = []
    for ex in examples:
        samples, sample_rate = get_audio(int(ex.record["index"]))
        mono = _as_float(audio.to_mono(np.asarray(samples)))[: int(MAX_AUDIO_S * sample_rate)]
        name = f"{ex.number:03d}"
        wav_path = out / "audio" / f"{name}.wav"
        written.append(audio.save(wav_path, np.clip(mono, -1.0, 1.0), sample_rate, subtype="PCM_16"))
        plots.plot_spectrogram(mono, sample_rate, out / "spectrograms" / f"{name}.png", title=str(ex.record["path"]))
        ex.audio, ex.spectrogram = f"audio/{name}.wav", f"spectrograms/{name}.png"
    return written


def _as_float(x: np.ndarray) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    return x.astype(np.float32)


# ---------------------------------------------------------------------------- pages


PLOT_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "per_class_f1": "Per-class F1",
    "per_class_ap": "Per-class average precision",
    "reliability": "Calibration (reliability diagram)",
    "roc_curve": "ROC curve",
    "training_curves": "Training curves",
}


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def md_escape(text: Any) -> str:
    """A user string made safe inside a Markdown table cell."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def html_escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class _Page:
    """The report's content, rendered as Markdown or HTML."""

    title: str
    split: str
    task: str
    metrics: dict[str, Any]
    plots: dict[str, Path]
    examples: list[_Example]
    num_wrong: int

    def header(self) -> str:
        m = self.metrics
        return (
            f"Split: {self.split} · clips: {m.get('num_clips', '?')} · task: {self.task} · "
            f"classes: {m.get('num_classes', '?')}"
        )

    def headline(self) -> str:
        tm = self.metrics.get("task_metric") or {}
        return f"{tm.get('name', 'task metric')} = {_fmt(tm.get('value'))}"

    def summary_rows(self) -> list[tuple[str, str]]:
        rows = [(k, _fmt(v)) for k, v in self.metrics.get("overall", {}).items()]
        cal = self.metrics.get("calibration")
        if cal:
            rows.append((f"ECE ({cal['n_bins']} bins)", _fmt(cal["ece"])))
        return rows

    def per_class_columns(self) -> list[str]:
        first = (self.metrics.get("per_class") or [{}])[0]
        return [c for c in PER_CLASS_COLUMNS if c in first]

    def examples_note(self) -> str:
        shown = len(self.examples)
        cut = f"; audio players hold at most the first {MAX_AUDIO_S:g} s" if any(e.audio for e in self.examples) else ""
        return f"{self.num_wrong} misclassified clip(s); showing {shown}, most confident mistakes first{cut}."

    # -- Markdown

    def markdown(self) -> str:
        out = [f"# {md_escape(self.title)}", "", self.header(), "", f"**{md_escape(self.headline())}**", ""]
        out += ["## Summary", "", "| metric | value |", "|---|---|"]
        out += [f"| {md_escape(k)} | {v} |" for k, v in self.summary_rows()] + [""]
        out += [f"- {md_escape(n)}" for n in self.metrics.get("notes", [])] + [""]
        out += ["## Plots", ""] + [f"![{PLOT_TITLES.get(k, k)}](plots/{p.name})" for k, p in self.plots.items()] + [""]
        out += self._breakdown_lines()
        out += self._md_per_class() + self._md_confused() + self._md_examples()
        return "\n".join(out) + "\n"

    def _breakdown_lines(self) -> list[str]:
        """Markdown of who-spoke breakdown and the reference listener (empty when the pack has neither)."""
        reference = (self.metrics.get("breakdown") or {}).get("reference")
        return breakdown_markdown(self.metrics) + (reference_markdown(reference) if reference else [])

    def _md_per_class(self) -> list[str]:
        cols = self.per_class_columns()
        out = ["## Per class", "", "| label | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for row in self.metrics.get("per_class", []):
            out.append(f"| {md_escape(row['label'])} | " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
        return out + [""]

    def _md_confused(self) -> list[str]:
        pairs = self.metrics.get("most_confused") or []
        out = ["## Most-confused pairs", ""]
        if not pairs:
            return out + ["None.", ""]
        out += ["| true | predicted | clips | share of true class |", "|---|---|---|---|"]
        out += [
            f"| {md_escape(p['true'])} | {md_escape(p['predicted'])} | {p['count']} | {p['fraction']:.1%} |"
            for p in pairs
        ]
        return out + [""]

    def _md_examples(self) -> list[str]:
        out = ["## Misclassified clips", "", self.examples_note(), ""]
        if not self.examples:
            return out
        out += ["| # | file | true | predicted | score | top 3 | audio |", "|---|---|---|---|---|---|---|"]
        for ex in self.examples:
            r = ex.record
            link = f"[wav]({ex.audio}) · [spectrogram]({ex.spectrogram})" if ex.audio else ""
            out.append(
                f"| {ex.number} | {md_escape(r['path'])} | {md_escape(_joined(r['true']))} | "
                f"{md_escape(_joined(r['predicted']))} "
                f"| {float(r['score']):.3f} | {md_escape(_top3_text(r['top3'], '; '))} | {link} |"
            )
        return out + [""]

    # -- HTML

    def html(self) -> str:
        body = [
            f"<h1>{html_escape(self.title)}</h1>",
            f"<p class='meta'>{html_escape(self.header())}</p>",
            f"<p class='headline'>{html_escape(self.headline())}</p>",
            "<h2>Summary</h2>",
            html_table(["metric", "value"], [[html_escape(k), html_escape(v)] for k, v in self.summary_rows()]),
        ]
        notes = self.metrics.get("notes", [])
        if notes:
            body.append("<ul class='notes'>" + "".join(f"<li>{html_escape(n)}</li>" for n in notes) + "</ul>")
        body += self._html_plots() + markdown_lines_html(self._breakdown_lines())
        body += self._html_per_class() + self._html_confused() + self._html_examples()
        return HTML_TEMPLATE.format(title=html_escape(self.title), body="\n".join(body))

    def _html_plots(self) -> list[str]:
        out = ["<h2>Plots</h2>"]
        for key, p in self.plots.items():
            name = PLOT_TITLES.get(key, key)
            img = f"<img src='plots/{html_escape(p.name)}' alt='{html_escape(name)}'>"
            out.append(f"<figure>{img}<figcaption>{html_escape(name)}</figcaption></figure>")
        return out

    def _html_per_class(self) -> list[str]:
        cols = self.per_class_columns()
        rows = [
            [html_escape(r["label"])] + [html_escape(_fmt(r.get(c))) for c in cols]
            for r in self.metrics.get("per_class", [])
        ]
        return ["<h2>Per class</h2>", html_table(["label", *cols], rows)]

    def _html_confused(self) -> list[str]:
        pairs = self.metrics.get("most_confused") or []
        if not pairs:
            return ["<h2>Most-confused pairs</h2>", "<p>None.</p>"]
        rows = [
            [html_escape(p["true"]), html_escape(p["predicted"]), str(p["count"]), f"{p['fraction']:.1%}"]
            for p in pairs
        ]
        header = ["true", "predicted", "clips", "share of true class"]
        return ["<h2>Most-confused pairs</h2>", html_table(header, rows)]

    def _html_examples(self) -> list[str]:
        out = ["<h2>Misclassified clips</h2>", f"<p>{html_escape(self.examples_note())}</p>"]
        rows = []
        for ex in self.examples:
            r = ex.record
            media = ""
            if ex.audio:
                media = (
                    f"<audio controls preload='none' src='{ex.audio}'></audio><br>"
                    f"<img class='spec' src='{ex.spectrogram}' alt='spectrogram of clip {ex.number}' "
                    "loading='lazy'>"
                )
            rows.append(
                [
                    str(ex.number),
                    html_escape(r["path"]),
                    html_escape(_joined(r["true"])),
                    html_escape(_joined(r["predicted"])),
                    f"{float(r['score']):.3f}",
                    html_escape(_top3_text(r["top3"], "; ")),
                    media,
                ]
            )
        if rows:
            out.append(html_table(["#", "file", "true", "predicted", "score", "top 3", "listen"], rows))
        return out


def markdown_lines_html(lines: list[str]) -> list[str]:
    """The plain Markdown the breakdown sections write (``## `` headings, ``- `` items, ``| `` table
    rows with a ``|---|`` rule after the header, paragraphs) as HTML elements, text escaped."""
    out: list[str] = []
    rows: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if rows:
            out.append(html_table(rows[0], [[_inline_html(c) for c in r] for r in rows[1:]]))
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in items) + "</ul>")
        rows.clear()
        items.clear()

    for line in lines:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-", ":"} for c in cells):  # the header rule
                rows.append(cells)
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h2>{html_escape(line[3:])}</h2>")
        elif line.strip():
            out.append(f"<p>{_inline_html(line)}</p>")
    flush()
    return out


def _inline_html(text: str) -> str:
    """Escaped text with Markdown's `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html_escape(text))


def html_table(header: list[str], rows: list[list[str]]) -> str:
    """``header`` is escaped here; cells must arrive escaped already."""
    head = "".join(f"<th>{html_escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }}
.meta {{ color: #555; }}
.headline {{ font-size: 1.4em; font-weight: bold; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
figure {{ display: inline-block; margin: 0.5em; }}
figure img {{ max-width: 100%; }}
img.spec {{ width: 320px; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
