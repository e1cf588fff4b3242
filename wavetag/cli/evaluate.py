"""``wavetag evaluate RUN|MODEL PACK``: metrics.json, report.md/html and plots for one split."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console
from wavetag.metric_names import DEFAULT_TASK_METRIC, OVERALL_METRICS


@app.command("evaluate")
def evaluate_command(
    model: Path = typer.Argument(
        ..., help="Run directory (uses its best/) or a model directory (config.json + model.safetensors)."
    ),
    pack: Path = typer.Argument(
        ..., help="Pack directory made by 'wavetag prepare', with the model's classes and sample rate."
    ),
    split: str = typer.Option("test", "--split", help="Split to evaluate: train, validation, test or all."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report directory. [default: RUN/report-SPLIT]"),
    hop_s: float | None = typer.Option(
        None,
        "--hop-s",
        help="Hop between sliding windows on long clips, in seconds. [default: half the model's window]",
    ),
    pool: str = typer.Option("mean", "--pool", help="How window logits of a long clip are pooled: mean or max."),
    task_metric: str | None = typer.Option(
        None,
        "--task-metric",
        help="Headline metric, e.g. map_at_3 for FSDKaggle2018: "
        + "; ".join(f"{task}: {', '.join(names)}" for task, names in OVERALL_METRICS.items())
        + ". [default: "
        + ", ".join(f"{name} ({task})" for task, name in DEFAULT_TASK_METRIC.items())
        + "]",
    ),
    batch_size: int = typer.Option(128, "--batch-size", help="Windows per forward pass."),
    max_examples: int = typer.Option(
        50, "--max-examples", help="Misclassified clips shown with audio and spectrogram in the HTML report."
    ),
    reference: bool = typer.Option(
        False,
        "--reference",
        help="Also hear the split's word clips with a reference listener (PocketSphinx's US-English model, "
        "trained on recordings of people, forced to choose among the pack's words): its accuracy beside the "
        "model's, the model's accuracy on the clips it heard right and on the rest (a clip it hears as another "
        "word is a doubtful test), and its verdict per clip in REPORT/reference.csv. Needs the pocketsphinx "
        "package (make setup installs it).",
    ),
) -> None:
    """Evaluate a trained model on a split of a pack and write an honest report: accuracy,
    balanced accuracy, macro-F1, per-class table, confusion matrix, calibration, task extras
    (mAP/lwlrap/MAP@3, ROC-AUC/EER) and the misclassified clips to listen to."""
    from wavetag.evaluate.run import evaluate

    result = evaluate(
        model,
        pack,
        split=split,
        out=out,
        hop_s=hop_s,
        pool=pool,
        task_metric=task_metric,
        batch_size=batch_size,
        max_examples=max_examples,
        reference=reference,
    )
    m = result.metrics
    headline = m["task_metric"]
    console.print(
        f"{result.model_dir} on {result.num_clips} {split} clips: {headline['name']} = {headline['value']:.4f}"
    )
    for key, value in m["overall"].items():
        if isinstance(value, float):
            console.print(f"  {key:>20s}  {value:.4f}")
    for line in breakdown_lines(m.get("breakdown") or {}):
        console.print(line, highlight=False, markup=False)
    console.print(
        f"report: {result.report.report_html}\n        {result.report.report_md}\nmetrics: {result.report.metrics_json}"
    )


def breakdown_lines(b: dict) -> list[str]:
    """Accuracy per engine/voice and non-keyword false accepts, when the pack knows them."""
    lines = []
    nk = b.get("non_keywords") or {}
    if nk.get("false_accept_rate") is not None:
        unseen = nk.get("unseen_words") or {}
        extra = (
            f"; on words unseen in training {100 * unseen['false_accept_rate']:.1f} % of {unseen['clips']}"
            if unseen.get("false_accept_rate") is not None
            else ""
        )
        lines.append(
            f"  non-keyword clips taken for a keyword: {100 * nk['false_accept_rate']:.1f} % of {nk['clips']}{extra}"
        )
    for key in ("engine", "voice"):
        rows = b.get(f"by_{key}") or []
        if len(rows) > 1 or (rows and key == "engine"):
            shown = ", ".join(f"{r['value']} {100 * r['accuracy']:.1f} % ({r['clips']})" for r in rows[:12])
            more = f" ... {len(rows) - 12} more in the report" if len(rows) > 12 else ""
            lines.append(f"  accuracy by {key}: {shown}{more}")
    if b.get("reference"):
        from wavetag.evaluate.reference import reference_lines

        lines += reference_lines(b["reference"])
    return lines
