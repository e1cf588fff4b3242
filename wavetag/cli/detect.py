"""``wavetag detect MODEL LONG.wav``: timestamped events; ``--evaluate STREAMS``: false accepts per
hour, miss rate, latency and a DET curve; ``--tune PACK`` / ``--tune-on STREAMS``: tune and store the
thresholds."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import typer

from wavetag.cli.app import app, err_console

FORMATS = ("table", "json", "csv")


@app.command("detect")
def detect_command(
    model: Path = typer.Argument(
        ..., help="Model directory (config.json + model.safetensors), or a run directory (uses its best/)."
    ),
    audio: Path | None = typer.Argument(
        None, help="Long recording to scan (any sample rate or channel count; at least one model window long)."
    ),
    evaluate: Path | None = typer.Option(
        None,
        "--evaluate",
        help="Instead of AUDIO: a streams folder from 'wavetag streams'; reports false accepts per hour, miss rate, "
        "latency and a DET curve.",
    ),
    tune: Path | None = typer.Option(
        None,
        "--tune",
        help="Instead of AUDIO: a pack; tunes the thresholds on its validation split for --target-fa-per-hour and "
        "stores them in MODEL/config.json.",
    ),
    tune_on: Path | None = typer.Option(
        None,
        "--tune-on",
        help="Instead of AUDIO: a streams folder of the validation split ('wavetag streams PACK --split validation "
        "--negative-minutes 60'); tunes per-class thresholds and the posterior smoothing (unless --smooth-s is given) "
        "for --target-fa-per-hour and stores them in MODEL/config.json.",
    ),
    hop_s: float | None = typer.Option(
        None,
        "--hop-s",
        help="Seconds between posteriors (one model window each). [default: the model's tuned value, else 0.1]",
    ),
    smooth_s: float | None = typer.Option(
        None,
        "--smooth-s",
        help="Moving average of the posteriors over this many seconds (0 = none). [default: tuned, else 0.3]",
    ),
    threshold: list[str] = typer.Option(
        [],
        "--threshold",
        help="LABEL=VALUE (repeatable) or VALUE for every class; posterior in (0, 1] at which a class fires. [default: "
        "tuned per class, else 0.5]",
    ),
    refractory_s: float | None = typer.Option(
        None,
        "--refractory-s",
        help="After a class fires it cannot fire again for this many seconds. [default: tuned, else one model window]",
    ),
    target_fa_per_hour: float = typer.Option(
        1.0, "--target-fa-per-hour", help="--tune, --tune-on: false accepts per hour allowed per class."
    ),
    timeline: bool = typer.Option(
        False,
        "--timeline",
        help="Binary models: print the whole recording as alternating segments, the positive class where it is "
        "detected and the negative class in between (e.g. on/off), instead of the events.",
    ),
    fmt: str = typer.Option("table", "--format", help="Events output: table, json or csv."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Events: write them to this file [default: stdout]. --evaluate: report folder [default: STREAMS/eval].",
    ),
    backend: str = typer.Option(
        "torch", "--backend", help="torch, or onnx (ONNX Runtime; exported once to MODEL/.cache/)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Windows per forward pass."),
    threads: int | None = typer.Option(
        None, "--threads", help="Intra-op threads. [default: torch's / all cores for onnx]"
    ),
) -> None:
    """Streaming keyword/event detection: a window every hop, smoothed posteriors, per-class
    thresholds (tuned at training for a target false-accept rate, or --threshold) and a refractory
    time. Prints events with label, start, end and score. The recording is streamed through the
    live detector (each window computed once, STFT frames shared between windows) and the
    real-time factor (CPU time / audio duration) is printed. Background classes (_silence_,
    _unknown_) are never reported. A binary model's events can be printed as an on/off timeline
    (--timeline)."""
    from wavetag.config import check_choice
    from wavetag.errors import ConfigError
    from wavetag.inference.predictor import Predictor

    check_choice("--format", fmt, FORMATS)
    if sum(x is not None for x in (audio, evaluate, tune, tune_on)) != 1:
        raise ConfigError(
            "give exactly one of AUDIO (a recording to scan), --evaluate STREAMS, --tune PACK or --tune-on STREAMS"
        )
    if tune is not None or tune_on is not None:
        _tune(model, tune, tune_on, target_fa_per_hour, hop_s=hop_s, smooth_s=smooth_s, refractory_s=refractory_s)
        return
    predictor = Predictor.load(model, backend=backend, threads=threads)
    thresholds = parse_thresholds(threshold, [x for x in predictor.labels if x not in predictor.background_labels])
    settings = {"hop_s": hop_s, "smooth_s": smooth_s, "thresholds": thresholds, "refractory_s": refractory_s}
    if evaluate is not None:
        _evaluate(predictor, evaluate, out or evaluate / "eval", settings, batch_size)
        return
    if timeline and predictor.task != "binary":
        raise ConfigError(
            f"--timeline needs a binary model (two classes, one logit); {model} is {predictor.task} over "
            f"{len(predictor.labels)} classes: drop --timeline to list its events"
        )
    from wavetag.inference.inputs import file_truncation_warning
    from wavetag.inference.streaming import detect_file

    events, detector = detect_file(predictor, audio, batch_size=batch_size, **settings)  # = predictor.detect's events
    speed = (
        f"real-time factor {detector.real_time_factor:.4f} (CPU {detector.cpu_s:.2f} s for {detector.audio_s:.1f} s "
        f"of audio; windows: {detector.engine.describe()})"
    )

    warning = file_truncation_warning(audio)  # a truncated file: events past the cut are simply missing
    if warning:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if timeline:
        from wavetag.audio import info
        from wavetag.inference.detector import on_off_segments

        negative, positive = predictor.labels[0], predictor.labels[1]
        segments = on_off_segments(events, info(audio).duration_s, on_label=positive, off_label=negative)
        _write(render_segments(segments, fmt), out)
        err_console.print(
            f"{sum(s.label == positive for s in segments)} {positive!r} segments in {audio}"
            + (f"; written to {out}" if out else "")
            + f"; {speed}",
            markup=False,
            soft_wrap=True,
        )
        return
    text = render(events, fmt)
    _write(text, out)
    err_console.print(
        f"{len(events)} events in {audio}" + (f"; written to {out}" if out else "") + f"; {speed}",
        markup=False,
        soft_wrap=True,
    )


def _write(text: str, out: Path | None) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    else:
        sys.stdout.write(text)


def render_segments(segments: list, fmt: str) -> str:
    """A binary detector's timeline (`on_off_segments`) as a text table, JSON or CSV."""
    columns = [("label", "<16", "", None), ("start_s", ">9", ".2f", ".3f"), ("end_s", ">9", ".2f", ".3f")]
    return _render_rows(segments, fmt, columns)


def parse_thresholds(items: list[str], targets: list[str]) -> dict[str, float] | None:
    """``["0.8", "yes=0.9"]`` → ``{every target label: 0.8, "yes": 0.9}`` (in the order given)."""
    from wavetag.errors import ConfigError

    out: dict[str, float] = {}
    for item in items:
        label, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(
                f"--threshold {item!r}: {value!r} is not a number; expected LABEL=VALUE or VALUE, e.g. --threshold "
                "yes=0.8"
            ) from None
        if sep:
            out[label.strip()] = number
        else:
            out.update({x: number for x in targets})
    return out or None


def render(events: list, fmt: str) -> str:
    """Events as a text table, JSON (a list of objects) or CSV."""
    columns = [
        ("label", "<16", "", None),
        ("start_s", ">9", ".2f", ".3f"),
        ("end_s", ">9", ".2f", ".3f"),
        ("score", ">6", ".3f", ".4f"),
        ("fired_s", ">9", ".2f", ".3f"),
    ]
    return _render_rows(events, fmt, columns)


def _render_rows(items: list, fmt: str, columns: list[tuple[str, str, str, str | None]]) -> str:
    """``items`` (with ``to_dict`` and one attribute per column) as JSON, CSV or a text table;
    a column is (name, table alignment+width, table format, CSV format or None for as-is)."""
    if fmt == "json":
        return json.dumps([x.to_dict() for x in items], indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([name for name, *_ in columns])
        writer.writerows(
            [getattr(x, n) if c is None else format(getattr(x, n), c) for n, _, _, c in columns] for x in items
        )
        return buf.getvalue()
    lines = [" ".join(format(name, align) for name, align, _, _ in columns)]
    lines += [" ".join(format(getattr(x, n), align + t) for n, align, t, _ in columns) for x in items]
    return "\n".join(lines) + "\n"


def _evaluate(predictor, streams: Path, out: Path, settings: dict, batch_size: int) -> None:
    from wavetag.inference.stream_eval import FA_PER_HOUR_POINTS, evaluate_streams

    result = evaluate_streams(predictor, streams, out_dir=out, batch_size=batch_size, **settings)
    o = result["overall"]
    print(f"{result['files']} streams, {result['hours'] * 60:.1f} min, {o['clips']} keyword clips:")
    print(f"  miss rate        {_pct(o['miss_rate'])}  ({o['missed']} missed)")
    print(f"  false accepts/h  {_num(o['fa_per_hour'])}  ({o['false_accepts']} in all)")
    print(
        f"  latency          median {_num(o['latency_median_s'])} s, 90th percentile {_num(o['latency_p90_s'])} s "
        "after the keyword's end"
    )
    points = [f"{p:g}" for p in FA_PER_HOUR_POINTS]
    at = "".join(f"{'miss@' + p:>10}" for p in points)
    print(f"  {'class':<16} {'thresh':>6} {'clips':>6} {'miss':>7} {'FA/h':>8}{at} {'lat.med':>8} {'lat.p90':>8}")
    rows = list(result["per_class"].items()) + [("all classes", {**o, "threshold": None})]
    for label, c in rows:
        at = "".join(f"{_at(c['miss_at_fa_per_hour'][p]):>10}" for p in points)
        thresh = "-" if c["threshold"] is None else f"{c['threshold']:.3f}"
        print(
            f"  {label:<16} {thresh:>6} {c['clips']:6d} {_pct(c['miss_rate']):>7} {_num(c['fa_per_hour']):>8}{at} "
            f"{_num(c['latency_median_s']):>8} {_num(c['latency_p90_s']):>8}"
        )
    print(
        f"  miss@N: lowest miss rate on the class's DET curve with <= N false accepts per hour (one threshold per "
        f"class; 'all': one threshold shared); 1 false accept in these streams = {_num(o['fa_resolution_per_hour'])}/h"
    )
    print(f"report: {result['json']}\nDET curve: {result['det_plot']}, {result['det_csv']}")


def _at(point) -> str:
    return "n/a" if point is None else _pct(point["miss_rate"])


def _tune(model: Path, pack: Path | None, streams: Path | None, target: float, **settings) -> None:
    from wavetag.inference.predictor import resolve_model_dir
    from wavetag.inference.thresholds import save_detection, tune_model_dir, tune_on_streams

    kwargs = {k: v for k, v in settings.items() if v is not None}
    if streams is not None:
        model_dir = resolve_model_dir(model)
        detection = tune_on_streams(str(model_dir), streams, target_fa_per_hour=target, **kwargs)
        save_detection(model_dir, detection)
        where = f"{streams} ({detection['measured']['split']} split)"
    else:
        detection = tune_model_dir(model, pack, target_fa_per_hour=target, **kwargs)
        where = f"{detection['measured']['split']} streams"
    measured = detection["measured"]
    print(
        f"thresholds for <= {target:g} false accepts per hour per class, on {measured.get('stream_hours', 0) * 60:.1f} "
        f"min of {where}, posteriors smoothed over {detection['smooth_s']:g} s:"
    )
    for label, value in detection["thresholds"].items():
        m = measured.get("per_class", {}).get(label, {})
        extra = "  (default)"
        if m.get("tuned"):
            extra = f"  miss {_pct(m.get('miss_rate'))}, FA/h {_num(m.get('fa_per_hour'))}"
            extra += "" if m.get("met_target") else "  (target not met: the fewest false accepts)"
        print(f"  {label:<16} {value:.3f}{extra}")
    for note in (detection.get("fallback"), measured.get("note")):
        if note:
            print(f"note: {note}")
    print("stored in the model's config.json (detection)")


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x) -> str:
    return "-" if x is None else f"{x:.3g}"
