"""``wavetag prepare SRC -o PACK``: decode a folder, Speech Commands, a CSV or an npz into a pack."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console
from wavetag.errors import ConfigError

SOURCE_HELP = (
    "Source layout: auto | folder (root/<label>/*.wav, or metadata.csv with file_name,label) | "
    "speech-commands (Google Speech Commands v0.01/v0.02) | csv (fname,label[,manually_verified] "
    "or fname,labels; FSDKaggle2018/2019) | npz (wav_vals [N,T] + label_vals [N,1])."
)


@app.command("prepare")
def prepare_command(
    src: Path = typer.Argument(..., help="Source: a folder, a .csv or an .npz file."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Pack folder to write (replaced atomically when the source changed)."
    ),
    source: str = typer.Option("auto", "--source", help=SOURCE_HELP),
    sample_rate: int = typer.Option(
        16000, "--sample-rate", help="Sample rate of the pack in Hz; other rates are resampled."
    ),
    clip_seconds: float | None = typer.Option(
        None,
        "--clip-seconds",
        help="Pad/trim every clip to this many seconds. Default: keep clips whole (variable length).",
    ),
    words: str | None = typer.Option(
        None,
        "--words",
        help="speech-commands: comma-separated target words, or 'all' (35-class task). "
        "Other words become _unknown_. Default: yes,no,up,down,left,right,on,off,stop,go (12-class task).",
    ),
    unknown_share: float = typer.Option(
        0.1, "--unknown-share", help="speech-commands: _unknown_ clips per split, as a share of its target-word clips."
    ),
    silence_share: float | None = typer.Option(
        None,
        "--silence-share",
        help="speech-commands: _silence_ clips cut from the background noise, as a share of "
        "each split's target-word clips. Default: 0.1 (0 with --words all).",
    ),
    split: str = typer.Option(
        "auto",
        "--split",
        help="Split rule: auto (the source's lists or split folders/column; the speaker hash for "
        "speech-commands; else random) | lists | hash (SHA-1 of the <speaker>_nohash_ prefix) | "
        "group:<column> (whole groups, e.g. group:speaker) | random (stratified by class).",
    ),
    fractions: str = typer.Option(
        "0.8,0.1,0.1", "--fractions", help="Train,validation,test shares for the hash, group and random rules."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random split, the unknown sampling and the silence cuts."),
    hold_out: str | None = typer.Option(
        None,
        "--hold-out",
        help="KEY=VALUE[,VALUE...]: clips whose KEY is one of the values make up the whole "
        "test split (the split rule's test clips go to validation), e.g. engine=flite to leave one synthesis "
        "engine out, voice=kal16, or group=<speaker>. Keys: group, and engine/voice/word of a 'wavetag synth' set.",
    ),
    vad: bool = typer.Option(False, "--vad", help="Trim leading/trailing silence with WebRTC VAD. Default: off."),
    noise_dir: Path | None = typer.Option(
        None,
        "--noise-dir",
        help="Folder of background-noise recordings stored in the pack for augmentation "
        "(and cut into _silence_ clips). Default: SRC/_background_noise_ when present.",
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Decode processes. Default: all CPU cores."),
    csv: str | None = typer.Option(
        None, "--csv", help="csv source: the CSV file, when SRC is a folder (relative to SRC)."
    ),
    audio_root: Path | None = typer.Option(
        None,
        "--audio-root",
        help="csv source: folder the CSV's file names are relative to. Default: the CSV's folder (or SRC).",
    ),
    source_sample_rate: int | None = typer.Option(
        None,
        "--source-sample-rate",
        help="npz source: sample rate of wav_vals in Hz, when the file has no 'sample_rate' entry.",
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the pack is up to date with the source."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Decode and resample a labelled source once into a pack (int16 memmap + index + labels.json + pack.json)."""
    from wavetag.data.prepare_pack import prepare

    summary = prepare(
        src,
        out,
        source=source,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        words=words,
        unknown_share=unknown_share,
        silence_share=silence_share,
        split=split,
        fractions=_fractions(fractions),
        seed=seed,
        hold_out=hold_out,
        vad=vad,
        noise_dir=noise_dir,
        jobs=jobs,
        csv=csv,
        audio_root=audio_root,
        source_sample_rate=source_sample_rate,
        force=force,
        progress=progress,
    )
    print_summary(summary)


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--fractions {text!r}: expected three numbers, e.g. 0.8,0.1,0.1") from None


def print_summary(summary) -> None:
    """Clips per class and split, hours, refusals and where everything was written."""
    from rich.markup import escape
    from rich.table import Table

    splits = ("train", "validation", "test")
    title = "clips per class and split" + (" (a clip counts once per tag)" if summary.multi_label else "")
    table = Table(title=title, title_justify="left")
    table.add_column("class")
    for name in (*splits, "total"):
        table.add_column(name, justify="right")
    for label in summary.labels:
        row = [summary.counts[s].get(label, 0) for s in splits]
        table.add_row(escape(label), *(f"{n:,}" for n in row), f"{sum(row):,}")
    totals = [sum(summary.counts[s].values()) for s in splits]
    table.add_section()
    table.add_row("all", *(f"{n:,}" for n in totals), f"{sum(totals):,}")
    console.print(table)
    say = lambda text: console.print(text, soft_wrap=True)  # noqa: E731  (paths stay on one line)
    out, rejected_path = escape(str(summary.out)), escape(str(summary.rejected_path))
    size = f"{summary.num_clips:,} clips, {_duration(summary.total_seconds)} at {summary.sample_rate:,} Hz"
    if summary.unchanged:
        say(f"{out}: up to date with the source ({size}); nothing to do (--force rebuilds it)")
    else:
        say(f"wrote {out}: {size} in {summary.elapsed_s:.1f} s ({summary.clips_per_s:,.0f} clips/s)")
    if summary.noise_seconds:
        say(f"noise bank: {_duration(summary.noise_seconds)} of background noise")
    if summary.rejected:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.rejected_reasons.items(), key=lambda kv: -kv[1]))
        say(f"[yellow]rejected {summary.rejected:,} files ({reasons}); see {rejected_path}[/yellow]")
    else:
        say("rejected: none")
    for warning in summary.warnings:
        say(f"[yellow]note: {escape(warning)}[/yellow]")


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
