"""``wavetag listen MODEL``: live detection on a WAV (or raw PCM) stream read from stdin.

arecord -f S16_LE -r 16000 -c 1 | wavetag listen runs/kws
sox -d -t raw -e signed -b 16 -r 16000 -c 1 - | wavetag listen runs/kws --raw --rate 16000
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from wavetag.cli.app import app, err_console

OUTPUTS = ("jsonl", "table")
READ_S = 0.05  # the most audio read from the pipe at once (a read returns sooner with what is there)


@app.command("listen")
def listen_command(
    model: Path = typer.Argument(
        ..., help="Model directory (config.json + model.safetensors), or a run directory (uses its best/)."
    ),
    raw: bool = typer.Option(
        False, "--raw", help="stdin is headerless PCM (give --rate; --sample-format and --channels if not s16le mono)."
    ),
    rate: int | None = typer.Option(None, "--rate", help="--raw: sample rate of the input in Hz."),
    channels: int = typer.Option(1, "--channels", help="--raw: interleaved channels (averaged to mono)."),
    sample_format: str = typer.Option(
        "s16le", "--sample-format", help="--raw: s16le, s24le, s32le, f32le or u8 (little-endian)."
    ),
    output: str = typer.Option("jsonl", "--output", help="jsonl (one JSON object per event and line) or table."),
    at_fire: bool = typer.Option(
        False,
        "--at-fire",
        help="Print each event the moment it fires (label, fired_s, score so far) instead of when it is final "
        "(its run ended and --refractory-s passed, about a second later).",
    ),
    hop_s: float | None = typer.Option(
        None, "--hop-s", help="Seconds between posteriors. [default: the model's tuned value, else 0.1]"
    ),
    smooth_s: float | None = typer.Option(
        None, "--smooth-s", help="Moving average of the posteriors, seconds. [default: tuned, else 0.3]"
    ),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="LABEL=VALUE (repeatable) or VALUE for every class. [default: tuned, else 0.5]"
    ),
    refractory_s: float | None = typer.Option(
        None, "--refractory-s", help="A class cannot fire again within this many seconds. [default: one window]"
    ),
    backend: str = typer.Option(
        "onnx",
        "--backend",
        help="onnx (ONNX Runtime on whole windows; exported once to MODEL/.cache/; the cheapest per second in "
        "bench/streaming.py) or torch (STFT frames shared between windows, the rest per window).",
    ),
    threads: int | None = typer.Option(1, "--threads", help="Intra-op threads of the model."),
) -> None:
    """Read audio from stdin as it arrives and print each detected event on its own line, flushed
    at once (JSON lines, or a table). A WAV stream whose header gives no length (as arecord writes
    to a pipe) is read to its end; other rates and channel counts are converted. Each window is
    computed once, from the new audio only. At the end, the real-time factor (CPU time / audio
    duration) goes to stderr."""
    from wavetag.cli.detect import parse_thresholds
    from wavetag.config import check_choice
    from wavetag.errors import ConfigError
    from wavetag.inference.pcm import PcmDecoder, PcmFormat, read_wav_header
    from wavetag.inference.predictor import Predictor
    from wavetag.inference.streaming import StreamingDetector

    check_choice("--output", output, OUTPUTS)
    stdin = sys.stdin.buffer
    if raw:
        if rate is None:
            raise ConfigError("--raw needs --rate (the input's sample rate in Hz), e.g. --raw --rate 16000")
        fmt, remaining = PcmFormat(rate, channels, sample_format).validate("--raw input"), None
    else:
        if rate is not None:
            raise ConfigError("--rate is for --raw input; a WAV stream states its rate in its header")
        fmt, remaining = read_wav_header(stdin, name="stdin")
    predictor = Predictor.load(model, backend=backend, threads=threads)
    targets = [x for x in predictor.labels if x not in predictor.background_labels]
    detector = StreamingDetector(
        predictor,
        hop_s=hop_s,
        smooth_s=smooth_s,
        thresholds=parse_thresholds(threshold, targets),
        refractory_s=refractory_s,
    )
    decoder = PcmDecoder(fmt, target_rate=predictor.sample_rate)
    err_console.print(
        f"listening: {fmt.describe()} from stdin -> {predictor.sample_rate} Hz; windows: {detector.engine.describe()}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    write = _writer(output, at_fire=at_fire)
    read = getattr(stdin, "read1", stdin.read)
    block = max(fmt.frame_bytes, int(READ_S * fmt.sample_rate) * fmt.frame_bytes)
    count = 0
    while remaining is None or remaining > 0:
        data = read(block if remaining is None else min(block, remaining))
        if not data:
            break
        if remaining is not None:
            remaining -= len(data)
        final = detector.push(decoder.feed(data))
        for event in detector.take_fired() if at_fire else final:
            count += write(event)
    final = detector.push(decoder.flush()) + detector.flush()
    for event in detector.take_fired() if at_fire else final:
        count += write(event)
    err_console.print(
        f"{count} events in {detector.audio_s:.1f} s of audio; real-time factor {detector.real_time_factor:.4f} "
        "(CPU time / audio duration)",
        markup=False,
        soft_wrap=True,
    )


def _writer(output: str, *, at_fire: bool):
    """A function printing one event (flushed at once) and returning 1; the table is `detect`'s
    (``at_fire``: label, fired_s and score only, the span is not known yet)."""
    from wavetag.cli.detect import render

    first = [True]

    def write(event) -> int:
        if output == "jsonl":
            d = event.to_dict()
            line = json.dumps({k: d[k] for k in ("label", "fired_s", "score")} if at_fire else d)
        else:
            if at_fire:
                head = f"{'label':<16} {'fired_s':>9} {'score':>6}"
                line = f"{event.label:<16} {event.fired_s:9.2f} {event.score:6.3f}"
            else:
                head, line = render([event], "table").splitlines()
            if first[0]:
                line, first[0] = f"{head}\n{line}", False
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return 1

    return write
