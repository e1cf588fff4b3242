"""``wavetag export MODEL --format onnx [--int8]``: an ONNX file checked against PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from wavetag.cli.app import app, console

FORMATS = ("onnx",)


@app.command("export")
def export_command(
    model: Path = typer.Argument(
        ..., help="Model directory (config.json + model.safetensors), or a run directory (uses its best/)."
    ),
    fmt: str = typer.Option(
        "onnx", "--format", help="Export format. Only onnx exists today (ONNX opset 17, for ONNX Runtime and devices)."
    ),
    int8: bool = typer.Option(
        False,
        "--int8",
        help="Also write OUT stem + .int8.onnx (dynamic int8 weights, front end in float) and compare it with the "
        "float file: test accuracy, file size, single-clip latency.",
    ),
    pack: Path | None = typer.Option(
        None,
        "--pack",
        help="Pack for the parity clips and the test accuracy. [default: the pack in the model's config.json; seeded "
        "noise if it is gone]",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="ONNX file to write. [default: MODEL/model.onnx]"),
    check_clips: int = typer.Option(
        64,
        "--check-clips",
        help="Test clips run through both PyTorch and ONNX Runtime for the parity check (max |logit difference| must "
        "be <= 1e-4).",
    ),
    latency_runs: int = typer.Option(
        50, "--latency-runs", help="Runs of one clip on one thread whose median is the latency (with --int8)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
) -> None:
    """Export a trained model to ONNX: waveform in, logits out, the front end inside the graph;
    dynamic batch, and dynamic length where the model allows. Runs onnx.checker, compares ONNX
    Runtime with PyTorch on test clips of the pack (max |difference| <= 1e-4) and stores the labels
    and sample rate in the file's metadata."""
    from wavetag.config import check_choice
    from wavetag.export import export

    check_choice("--format", fmt, FORMATS)
    report = export(model, out, int8=int8, pack=pack, check_clips=check_clips, latency_runs=latency_runs)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    console.print(render(report, latency_runs=latency_runs), markup=False, highlight=False, soft_wrap=True)


def render(report, *, latency_runs: int = 50) -> str:
    """The export summary as plain text: file, shapes, parity, notes, float vs int8 table."""
    length = "dynamic" if report.dynamic_length else str(report.num_samples)
    lines = [
        f"wrote {report.onnx_path}  ({report.model_name}: wav [batch, 1, {length}] at {report.sample_rate} Hz -> "
        "logits)",
        "onnx.checker: passed",
        f"parity vs PyTorch: max |diff| = {report.max_abs_diff:.2e} on {report.parity_clips} clips "
        f"({report.parity_source}); "
        f"target <= {report.atol:g}: ok",
    ]
    lines += [f"note: {n}" for n in report.notes]
    if report.variants:
        metric = next((v.accuracy_metric for v in report.variants if v.accuracy is not None), "accuracy")
        lines.append("")
        lines.append(f"{'':8}{metric:>20}{'file size':>11}{'latency':>11}{'|diff| vs float':>17}{'same top-1':>12}")
        for v in report.variants:
            acc = f"{v.accuracy:.4f}" if v.accuracy is not None else "n/a"
            diff = f"{v.max_abs_diff_vs_float:.3g}" if v.max_abs_diff_vs_float is not None else "-"
            agree = f"{v.top1_agreement:.3f}" if v.top1_agreement is not None else "-"
            lines.append(f"{v.name:8}{acc:>20}{_size(v.size_bytes):>11}{v.latency_ms:>8.3f} ms{diff:>17}{agree:>12}")
        lines.append(
            f"latency: one clip, one thread, median of {latency_runs} runs in ONNX Runtime (float and int8 in turn); "
            f"|diff|: max logit difference on the parity clips; int8 file: {report.int8_path}"
        )
        if report.int8_verdict:
            lines.append(f"verdict: {report.int8_verdict}")
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"
