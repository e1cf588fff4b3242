"""``wavetag demo``: synthesise → prepare → explore → train → evaluate → export → predict."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console
from wavetag.cli.options import split_commas


@app.command("demo")
def demo_command(
    out: Path = typer.Option(
        Path("demo"),
        "--out",
        "-o",
        help="Directory for everything the demo writes (data/, pack/, explore/, run/, model.onnx).",
    ),
    speakers: int = typer.Option(
        400, "--speakers", help="Synthetic speakers in the keyword set (each says every word once, and 10 other words)."
    ),
    recipe: str = typer.Option(
        "kws",
        "--recipe",
        help="Training recipe (see `wavetag train --help`): kws (a head on the frozen Whisper encoder; ~7 min on 2 "
        "cores with a bfloat16 CPU) or kws_light (a DS-CNN and a head on the speech embedding: 3x cheaper to stream, "
        "worse on voices the model never heard).",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs. [default: the recipe's]"),
    hold_out: str | None = typer.Option(
        None,
        "--hold-out",
        help="Test on one engine's (or voice's) speakers only and train on the rest, e.g. engine=flite: accuracy on "
        "voices the model never heard. [default: speakers split by the Speech Commands hash, every engine in every "
        "split]",
    ),
    engines: list[str] | None = typer.Option(
        None,
        "--engines",
        help="Synthesis engines, comma-separated (espeak, flite, festival, piper, kokoro, hibari). [default: every "
        "engine installed here but piper, kokoro and hibari; each too when --hold-out engine=... names it (kokoro adds "
        "~15 min of synthesis)]",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthesis and of training."),
    jobs: int = typer.Option(2, "--jobs", help="Processes for synthesis and decoding."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """The built-in speech-commands demo, end to end, on 2 CPU cores in about ten minutes: a
    keyword set spoken by synthetic voices, the 12-class task (10 words + unknown + silence),
    the recommended small model, a report on speakers never seen in training, an ONNX export."""
    from wavetag.cli.evaluate import breakdown_lines
    from wavetag.demo import run_demo

    r = run_demo(
        out,
        speakers=speakers,
        seed=seed,
        jobs=jobs,
        epochs=epochs,
        recipe_name=recipe,
        hold_out=hold_out,
        engines=split_commas(engines),
        progress=progress,
        console=console,
    )
    console.rule("demo finished")
    who = f"speakers of {hold_out} only, never heard in training" if hold_out else "speakers never seen in training"
    console.print(
        f"test accuracy {r.test_accuracy:.4f}, macro-F1 {r.test_macro_f1:.4f} on {who} "
        f"(synthetic voices, not accuracy on human speech)"
    )
    for line in breakdown_lines(r.breakdown):
        console.print(line, highlight=False, markup=False)
    console.print(
        f"total time {r.seconds / 60:.1f} min (" + ", ".join(f"{k} {v:.0f} s" for k, v in r.step_seconds.items()) + ")"
    )
    p = r.prediction
    console.print(
        f"predicted {Path(p['file']).name}: {p['label']} ({p['score']:.3f}); top-3 "
        + ", ".join(f"{k['label']} {k['score']:.3f}" for k in p["top_k"])
    )
    for name, path in r.paths.items():
        console.print(f"  {name:>8s}: {path}")
    console.print(f"next: wavetag predict {r.paths['model']} FILE.wav   |   wavetag serve {r.paths['model']}")
