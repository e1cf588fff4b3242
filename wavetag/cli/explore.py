"""``wavetag explore SRC|PACK -o REPORT``: what is in the data, before training on it."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console, err_console

LEAK_EXIT_CODE = 2
SHOW_LEAKS = 20  # speakers named on the terminal (all of them in the report)


@app.command("explore")
def explore_command(
    src: Path = typer.Argument(
        ...,
        help="A pack made by 'wavetag prepare', or a source (folder, .csv, .npz) to prepare first into REPORT/pack.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Report folder: report.html, report.md, explore.json, clips.csv, spectra.npz, plots/, audio/.",
    ),
    bands: str | None = typer.Option(
        None,
        "--bands",
        help="Frequency bands for the band-energy violins, LOW-HIGH in Hz, comma-separated, e.g. "
        "0-500,500-2000,2000-8000. [default: 0-500,500-2000,2000-Nyquist]",
    ),
    max_clips: int | None = typer.Option(
        None,
        "--max-clips",
        help="Analyse a seeded random sample of this many clips (spectra, levels, outliers, near "
        "duplicates); counts, durations, exact duplicates and leakage always cover every clip. [default: all clips]",
    ),
    near_threshold: float = typer.Option(
        0.995,
        "--near-duplicate-threshold",
        help="Cosine similarity (0.9-1) of two clips' log-mel summaries from which they count as near duplicates.",
    ),
    outliers: int = typer.Option(20, "--outliers", help="Outliers to list (and to put in audio/ for listening)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --max-clips sample and the PCA."),
    no_leak_exit: bool = typer.Option(
        False,
        "--no-leak-exit",
        help="Exit 0 even when a speaker/group is in more than one split (for pipelines that only want the report).",
    ),
    source: str | None = typer.Option(
        None, "--source", help="Source layout when SRC is not a pack (see 'wavetag prepare --help'). [default: auto]"
    ),
    sample_rate: int | None = typer.Option(
        None, "--sample-rate", help="Sample rate in Hz of the pack prepared from a source. [default: 16000]"
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="Split rule of the pack prepared from a source (see 'wavetag prepare --help'). [default: auto]",
    ),
    prepare_option: list[str] = typer.Option(
        [],
        "--prepare-option",
        "-P",
        help="Any other 'wavetag prepare' option for a source, as KEY=VALUE with the "
        "Python name, e.g. -P clip_seconds=1.0 -P words=all -P jobs=2. Repeatable.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars on stderr."),
    reference: bool = typer.Option(
        False,
        "--reference",
        help="Hear the analysed clips of word labels with a reference listener (PocketSphinx's US-English model, "
        "trained on recordings of people, forced to choose among the word labels) and list those it hears as "
        "another word: clips that may be mislabelled, cut short or unclear (REPORT/reference.csv has its verdict "
        "per clip). Labels starting with '_' are not words. Needs the pocketsphinx package (make setup installs it).",
    ),
) -> None:
    """Write a dataset report (HTML + Markdown with PNG plots, explore.json): clips per class and split;
    duration, sample-rate, level and silence histograms; mean spectrum and mean log-spectrogram per class;
    band-energy violins; PCA of the clips' log spectra with outliers listed by file; exact and near-duplicate
    clips (cross-split ones flagged); and speakers/groups found in more than one split.

    Exit status: 0 = report written and no speaker/group in two splits; 2 = report written, but at least one
    speaker/group is in more than one split (speaker leakage; they are named) - pass --no-leak-exit to get 0;
    1 = error (one line on stderr).
    """
    from wavetag.cli.options import parse_overrides
    from wavetag.explore import explore

    options = parse_overrides(prepare_option, flag="--prepare-option")
    options.update(
        {k: v for k, v in (("source", source), ("sample_rate", sample_rate), ("split", split)) if v is not None}
    )
    result = explore(
        src,
        out,
        bands=bands,
        max_clips=max_clips,
        near_duplicate_threshold=near_threshold,
        outliers=outliers,
        seed=seed,
        prepare_options=options,
        progress=progress,
        reference=reference,
    )
    _print_summary(result)
    if result.leaks and not no_leak_exit:
        err_console.print(
            f"speaker leakage: {len(result.leaks)} speaker(s)/group(s) in more than one split; "
            f"exit status {LEAK_EXIT_CODE} (--no-leak-exit to exit 0)",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(LEAK_EXIT_CODE)


def _print_summary(result) -> None:
    say = lambda text: console.print(text, soft_wrap=True, markup=False, highlight=False)  # noqa: E731
    hours = result.total_seconds / 3600
    size = f"{hours:.2f} h" if hours >= 1 else f"{result.total_seconds / 60:.1f} min"
    origin = " (prepared from the source)" if result.prepared else ""
    say(
        f"explored {result.pack_path}{origin}: {result.num_clips:,} clips ({result.num_analysed:,} analysed), "
        f"{len(result.labels)} classes, {size}"
    )
    if result.leaks:
        named = ", ".join(
            f"{x.group} ({', '.join(f'{s} {n}' for s, n in x.clips.items())})" for x in result.leaks[:SHOW_LEAKS]
        )
        more = f", and {len(result.leaks) - SHOW_LEAKS} more (see the report)" if len(result.leaks) > SHOW_LEAKS else ""
        say(f"LEAKAGE: {len(result.leaks)} speaker(s)/group(s) in more than one split: {named}{more}")
    else:
        checked = result.leak_check.groups
        say(
            f"leakage: none ({checked:,} speakers/groups checked)"
            if checked
            else "leakage: not checked (no clip has a speaker/group)"
        )
    exact = sum(d.kind == "exact" for d in result.duplicates)
    near = len(result.duplicates) - exact
    say(f"duplicates: {exact} exact pair(s), {near} near pair(s); {len(result.cross_split_duplicates)} across splits")
    if result.outliers:
        top = result.outliers[0]
        say(f"outliers: {len(result.outliers)} listed; most unusual {top.path} ({top.label}, score {top.score:.1f})")
    if result.reference is not None:
        heard = result.reference
        agrees = heard.agrees
        say(
            f"reference listener: heard {int(agrees.sum()):,} of {len(agrees):,} word clips as their word; "
            f"{int((~agrees).sum()):,} as another word or nothing (listed in the report)"
        )
    for note in result.notes:
        say(f"note: {note}")
    p = result.paths
    say(f"report: {p.report_html}\n        {p.report_md}\nnumbers: {p.explore_json} (per clip: {p.clips_csv})")
