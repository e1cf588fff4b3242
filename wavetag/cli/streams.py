"""``wavetag streams PACK -o STREAMS``: long test recordings with clips at known times, for
``wavetag detect MODEL --evaluate STREAMS``."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app


@app.command("streams")
def streams_command(
    pack: Path = typer.Argument(..., help="Pack directory made by 'wavetag prepare' (single-label)."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder to write: stream_000.wav ..., labels.csv (file, label, start_s, end_s, source) and streams.json.",
    ),
    split: str = typer.Option("test", "--split", help="Split whose clips are placed: train, validation or test."),
    minutes: float = typer.Option(
        10.0,
        "--minutes",
        help="Total stream length in minutes at most (each clip is used once, so fewer if the split runs out).",
    ),
    file_minutes: float = typer.Option(5.0, "--file-minutes", help="Length of each stream file in minutes at most."),
    gap_s: str = typer.Option(
        "1.5,4.0", "--gap-s", help="MIN,MAX seconds of background between clips (drawn uniformly)."
    ),
    snr_db: float = typer.Option(10.0, "--snr-db", help="Median clip level above the background noise, in dB."),
    negative_minutes: float = typer.Option(
        0.0,
        "--negative-minutes",
        help="Add this many minutes of streams with no keyword (neg_000.wav ...): long stretches of background noise "
        "alternating with talk, phrases of the split's _unknown_ words. An hour of them lets detect --tune-on and "
        "--evaluate measure 1 false accept per hour.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of clip order, gaps and noise."),
) -> None:
    """Build long test streams: clips of a split (not _silence_; _unknown_ ones as distractors)
    placed at known times in background noise (the pack's noise bank, else pink noise), and with
    --negative-minutes, streams of background and non-keyword talk. Use the validation split to
    tune thresholds (detect --tune-on), the test split to evaluate (detect --evaluate)."""
    from wavetag.errors import ConfigError
    from wavetag.inference.streams import build_streams

    try:
        gaps = tuple(float(x) for x in gap_s.split(","))
    except ValueError:
        gaps = ()
    if len(gaps) != 2:
        raise ConfigError(f"--gap-s {gap_s!r}; expected MIN,MAX in seconds, e.g. 1.5,4.0")
    summary = build_streams(
        pack,
        out,
        split=split,
        minutes=minutes,
        seed=seed,
        gap_s=gaps,
        snr_db=snr_db,
        file_minutes=file_minutes,
        negative_minutes=negative_minutes,
    )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.clips.items()))
    negative = f" ({summary.negative_hours * 60:.1f} min without keywords)" if summary.negative_hours else ""
    print(f"{len(summary.files)} streams, {summary.hours * 60:.1f} min{negative}, in {summary.out_dir}")
    if summary.negative_hours:
        print(
            f"  without keywords: talk from {summary.negative_talk_clips} distinct non-keyword clips of the split"
            if summary.negative_talk_clips
            else f"  without keywords: background only (the {split} split has no non-keyword clips such as _unknown_)"
        )
    if summary.speakers is None:
        print(f"  speakers: not named in the pack; clips from the {split} split")
    else:
        print(
            f"  speakers: {summary.speakers} from the {split} split"
            + (f", {summary.speakers_in_train} of them also in training" if summary.speakers_in_train else "")
        )
    print(f"  clips placed: {counts}")
    print(f"  background: {summary.noise}")
    print(f"  ground truth: {summary.labels_csv}")
