"""Streaming detection, refractory time, thresholds (stored, overridden, tuned), test streams,
streaming evaluation with its DET plot, and the detect/streams commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_inference_predictor import CLIP_S, SR, build_tone_model, pink, tone
from typer.testing import CliRunner

from wavetag.data.pack import Pack
from wavetag.errors import AudioError, ConfigError
from wavetag.inference.detector import class_events, resolve_settings, smooth_posteriors
from wavetag.inference.predictor import Predictor
from wavetag.inference.stream_eval import evaluate_streams
from wavetag.inference.streams import build_streams, read_streams
from wavetag.inference.thresholds import save_detection, tune_thresholds

HOP_S = 0.1
PLANTED = [("low", 1.0), ("mid", 3.3), ("high", 5.65), ("mid", 8.0)]  # (label, start_s); each tone 0.5 s
STREAM_S = 10.0


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory) -> Path:
    return build_tone_model(tmp_path_factory.getbasetemp() / "inference_tones")


@pytest.fixture(scope="module")
def predictor(tone_model) -> Predictor:
    return Predictor.load(tone_model, threads=1)


@pytest.fixture(scope="module")
def planted_stream(tmp_path_factory) -> Path:
    """10 s of pink noise with the tones of `PLANTED` added, at 8 kHz."""
    rng = np.random.default_rng(5)
    x = pink(int(STREAM_S * SR), 0.03, rng)
    for label, start_s in PLANTED:
        a = int(start_s * SR)
        x[a : a + int(CLIP_S * SR)] += tone({"low": 300, "mid": 900, "high": 2500}[label])
    path = tmp_path_factory.mktemp("planted") / "stream.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def streams(tone_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("streams")
    build_streams(tone_model.parent / "pack", out, split="test", minutes=5, seed=0)
    return out


def test_detect_finds_planted_events_at_their_times(predictor, planted_stream):
    events = predictor.detect(planted_stream, hop_s=HOP_S)
    assert [e.label for e in events] == [label for label, _ in PLANTED]  # one each, none on the background
    for e, (_, start_s) in zip(events, PLANTED, strict=False):
        assert abs(e.start_s - start_s) <= 2.5 * HOP_S, (e, start_s)
        assert abs(e.end_s - (start_s + CLIP_S)) <= 2.5 * HOP_S, (e, start_s)
        assert start_s < e.fired_s <= start_s + CLIP_S + HOP_S  # fires while the tone plays
        assert 0.5 < e.score <= 1.0
    assert json.loads(json.dumps([e.to_dict() for e in events]))[0]["label"] == "low"


def test_detect_on_background_only_finds_nothing(predictor):
    x = pink(8 * SR, 0.03, np.random.default_rng(6))
    assert predictor.detect(np.stack([x, x]), sample_rate=SR) == []  # stereo array, mixed down


def test_file_decoded_in_blocks_equals_the_array(predictor, planted_stream, monkeypatch):
    from wavetag.inference import detector

    monkeypatch.setattr(detector, "BLOCK_S", 2.0)  # 2-s blocks (the floor is 4 windows): 5 blocks
    from_file = detector.stream_posteriors(predictor, planted_stream, hop_s=HOP_S)
    x, _ = sf.read(planted_stream, dtype="float32")
    from_array = detector.stream_posteriors(predictor, x, sample_rate=SR, hop_s=HOP_S)
    assert from_file.probs.shape == (1 + int((STREAM_S - CLIP_S) / HOP_S), 4)
    np.testing.assert_allclose(from_file.start_s, from_array.start_s)
    np.testing.assert_allclose(from_file.probs, from_array.probs, atol=1e-5)


def test_detect_resamples_other_rates(predictor, planted_stream):
    x, _ = sf.read(planted_stream, dtype="float32")
    from wavetag.audio import resample

    events = predictor.detect(resample(x, SR, 16000), sample_rate=16000)
    assert [e.label for e in events] == [label for label, _ in PLANTED]


def test_refractory_merges_a_second_firing():
    times = np.arange(20) * 0.1 + 0.25
    fired = np.arange(20) * 0.1 + 0.5
    values = np.zeros(20, np.float32)
    values[[3, 4, 5, 8, 9]] = 0.9  # two runs 0.5 s apart
    run = dict(label="yes", threshold=0.5, hop_s=0.1, duration_s=2.5)
    two = class_events(values, times, fired, refractory_s=0.0, **run)
    one = class_events(values, times, fired, refractory_s=1.0, **run)
    assert [(round(e.start_s, 3), round(e.end_s, 3), round(e.fired_s, 3)) for e in two] == [
        (0.5, 0.8, 0.8),
        (1.0, 1.2, 1.3),
    ]
    assert len(one) == 1 and (round(one[0].start_s, 3), round(one[0].end_s, 3)) == (0.5, 1.2)


def test_refractory_on_the_model(predictor):
    rng = np.random.default_rng(7)
    x = pink(6 * SR, 0.03, rng)
    for start_s in (1.0, 2.3):  # the same tone twice, 0.8 s of noise between
        a = int(start_s * SR)
        x[a : a + SR // 2] += tone(900)
    assert [e.label for e in predictor.detect(x, sample_rate=SR, refractory_s=0.0)] == ["mid", "mid"]
    merged = predictor.detect(x, sample_rate=SR, refractory_s=3.0)
    assert [e.label for e in merged] == ["mid"] and merged[0].end_s > 2.5


def test_smoothing_is_a_causal_moving_average():
    probs = np.array([[0.0], [3.0], [6.0], [9.0]], np.float32)
    np.testing.assert_allclose(smooth_posteriors(probs, 2)[:, 0], [0.0, 1.5, 4.5, 7.5])
    np.testing.assert_allclose(smooth_posteriors(probs, 1), probs)


def test_stored_thresholds_are_used_and_overrides_win(predictor, tone_model, tmp_path, planted_stream):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tone_model / "best", model)
    save_detection(
        model,
        {"thresholds": {"low": 0.7, "mid": 0.8, "high": 0.9}, "smooth_s": 0.2, "hop_s": 0.05, "refractory_s": 2.0},
    )
    stored = Predictor.load(model)
    s = resolve_settings(stored)
    assert (s.thresholds, s.smooth_s, s.hop_s, s.refractory_s) == (
        {"low": 0.7, "mid": 0.8, "high": 0.9},
        0.2,
        0.05,
        2.0,
    )
    s = resolve_settings(stored, thresholds={"mid": 0.6}, hop_s=0.1)
    assert s.thresholds == {"low": 0.7, "mid": 0.6, "high": 0.9} and s.hop_s == 0.1
    assert set(resolve_settings(stored, thresholds=0.55).thresholds.values()) == {0.55}
    loose = predictor.detect(planted_stream, thresholds={"high": 1e-6})  # "high" fires everywhere
    assert sum(e.label == "high" for e in loose) >= 1 and loose != predictor.detect(planted_stream)
    assert any(e.label == "high" and e.end_s - e.start_s > 2.0 for e in loose)


def test_bad_threshold_overrides(predictor):
    with pytest.raises(ConfigError, match=r"unknown label in thresholds 'mdi'; did you mean 'mid'"):
        resolve_settings(predictor, thresholds={"mdi": 0.5})
    with pytest.raises(ConfigError, match=r"'_silence_' is a background class, never reported"):
        resolve_settings(predictor, thresholds={"_silence_": 0.5})
    with pytest.raises(ConfigError, match=r"threshold of 'low' = 1.5 is out of range"):
        resolve_settings(predictor, thresholds={"low": 1.5})


def test_detect_on_audio_shorter_than_a_window(predictor, tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, tone(900, 0.3), SR)
    with pytest.raises(AudioError, match=rf"{path}: 0.300 s long, shorter than the model's window of 0.5 s"):
        predictor.detect(path)
    with pytest.raises(AudioError, match=r"<array>: 0.200 s long, shorter than the model's window"):
        predictor.detect(tone(900, 0.4, sample_rate=16000), sample_rate=32000)


def test_build_streams_writes_ground_truth(streams, tone_model):
    manifest, truth = read_streams(streams)
    rows = list(csv.DictReader(open(streams / "labels.csv")))
    assert list(rows[0]) == ["file", "label", "start_s", "end_s", "source"]
    assert sorted(r["label"] for r in rows) == sorted(["high", "low", "mid"] * 10)  # every test clip but _silence_
    assert manifest["split"] == "test" and manifest["sample_rate"] == SR and "noise bank" in manifest["noise"]
    for name, placements in truth.items():
        x, rate = sf.read(streams / name, dtype="float32")
        assert rate == SR
        starts = np.array([p.start_s for p in placements])
        ends = np.array([p.end_s for p in placements])
        gaps = starts[1:] - ends[:-1]
        assert starts[0] >= 1.5 and np.all(gaps >= 1.5 - 1e-3) and np.all(gaps <= 4.0 + 1e-3)
        assert np.allclose(ends - starts, CLIP_S, atol=0.04)  # tones fill their clips: nothing trimmed
        inside = np.concatenate([x[int(a * SR) : int(b * SR)] for a, b in zip(starts, ends, strict=False)])
        outside = x[: int(starts[0] * SR)]
        assert np.sqrt(np.mean(inside**2)) > 2 * np.sqrt(np.mean(outside**2))  # the tones are where labels.csv says


def test_evaluate_streams_reports_and_plots(predictor, streams, tmp_path):
    result = evaluate_streams(predictor, streams, out_dir=tmp_path / "eval")
    o = result["overall"]
    assert o["clips"] == 30 and o["miss_rate"] <= 0.05
    # latency counts from the keyword's end: a 0.5-s window fires within a window of it
    assert -CLIP_S < o["latency_median_s"] <= o["latency_p90_s"] < CLIP_S + 0.2 and o["fa_per_hour"] >= 0
    assert set(result["per_class"]) == {"low", "mid", "high"}
    assert o["fa_resolution_per_hour"] == pytest.approx(1 / result["hours"])
    for c in result["per_class"].values():
        assert list(c["miss_at_fa_per_hour"]) == ["0.5", "1", "2"]
        at = c["miss_at_fa_per_hour"]["1"]
        assert at is None or (at["fa_per_hour"] <= 1.0 and 0 <= at["miss_rate"] <= 1 and 0 < at["threshold"] < 1)
    assert (tmp_path / "eval" / "det_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(open(tmp_path / "eval" / "det_curve.csv")))
    assert list(rows[0]) == ["class", "threshold", "miss_rate", "fa_per_hour", "missed", "false_accepts"]
    grid = len(result["det"]["thresholds"])
    assert [r["class"] for r in rows] == ["high"] * grid + ["low"] * grid + ["mid"] * grid + ["_all_"] * grid
    assert int(rows[0]["false_accepts"]) == result["det"]["per_class"]["high"]["false_accepts"][0]
    saved = json.loads((tmp_path / "eval" / "stream_eval.json").read_text())
    assert saved["overall"] == o and len(saved["det"]["overall"]["miss_rate"]) == len(saved["det"]["thresholds"])
    curve = saved["det"]["per_class"]["low"]["false_accepts"]
    assert curve[0] >= curve[-1]  # fewer false accepts as the threshold rises


def test_miss_at_fa_picks_the_lowest_miss_within_each_rate():
    from wavetag.inference.stream_eval import THRESHOLD_GRID, miss_at_fa

    n = len(THRESHOLD_GRID)  # false accepts fall and misses rise as the threshold rises
    fa = np.linspace(10.0, 0.0, n)
    miss = np.linspace(0.0, 0.5, n)
    at = miss_at_fa({"miss_rate": list(miss), "fa_per_hour": list(fa)})
    for point in ("0.5", "1", "2"):
        i = int(np.flatnonzero(fa <= float(point))[0])
        assert at[point] == {"miss_rate": miss[i], "fa_per_hour": fa[i], "threshold": float(THRESHOLD_GRID[i])}
    assert miss_at_fa({"miss_rate": [0.1] * n, "fa_per_hour": [3.0] * n}) == {"0.5": None, "1": None, "2": None}


def test_tune_thresholds_meets_the_target(predictor, tone_model, tmp_path):
    pack = tone_model.parent / "pack"
    target = 40.0  # per class per hour: the validation stream is ~1.6 min, so 1 false accept = ~37/h
    detection = tune_thresholds(predictor, pack, target_fa_per_hour=target)
    assert detection["fallback"] is None and set(detection["thresholds"]) == {"low", "mid", "high"}
    for label, m in detection["measured"]["per_class"].items():
        assert m["met_target"] and m["fa_per_hour"] <= target and m["miss_rate"] <= 0.1
        assert 0 < detection["thresholds"][label] <= 1 and m["threshold"] == detection["thresholds"][label]
    json.dumps(detection, allow_nan=False)
    out = tmp_path / "val"
    build_streams(pack, out, split="validation", minutes=30)  # the same stream tune_thresholds built
    check = evaluate_streams(
        predictor,
        out,
        thresholds=detection["thresholds"],
        smooth_s=detection["smooth_s"],
        hop_s=detection["hop_s"],
        refractory_s=detection["refractory_s"],
    )
    assert all(c["fa_per_hour"] <= target for c in check["per_class"].values())
    longer = tune_thresholds(predictor, pack, target_fa_per_hour=target, negative_minutes=2)
    assert longer["measured"]["stream_hours"] == pytest.approx(detection["measured"]["stream_hours"] + 2 / 60, abs=1e-3)
    few = tune_thresholds(predictor, pack, min_clips_per_class=100)
    assert "fewer than 100 validation clips for high (10), low (10), mid (10)" in few["fallback"]
    assert set(few["thresholds"].values()) == {0.5}


def test_cli_streams_detect_and_evaluate(tone_model, planted_stream, tmp_path, capsys):
    from wavetag.cli import _load_commands, main

    app, runner = _load_commands(), CliRunner()
    result = runner.invoke(
        app,
        [
            "detect",
            str(tone_model),
            str(planted_stream),
            "--format",
            "json",
            "--threshold",
            "0.6",
            "--threshold",
            "low=0.7",
            "--hop-s",
            "0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [e["label"] for e in json.loads(result.stdout)] == [label for label, _ in PLANTED]
    result = runner.invoke(
        app, ["detect", str(tone_model), str(planted_stream), "--format", "csv", "-o", str(tmp_path / "ev.csv")]
    )
    assert result.exit_code == 0 and (tmp_path / "ev.csv").read_text().startswith("label,start_s,end_s,score,fired_s\n")
    result = runner.invoke(
        app, ["streams", str(tone_model.parent / "pack"), "-o", str(tmp_path / "s"), "--minutes", "1"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "labels.csv").is_file() and "1.0 min" in result.stdout
    result = runner.invoke(app, ["detect", str(tone_model), "--evaluate", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "miss rate" in result.stdout and (tmp_path / "s" / "eval" / "det_curve.png").is_file()
    for args, message in (
        (["--threshold", "low=high", str(planted_stream)], "--threshold 'low=high': 'high' is not a number"),
        ([], "give exactly one of AUDIO (a recording to scan), --evaluate STREAMS, --tune PACK or --tune-on STREAMS"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["detect", str(tone_model), *args])
        assert exit_info.value.code == 1 and capsys.readouterr().err.startswith(f"error: {message}")


def test_cli_tune_stores_thresholds_in_the_model(tone_model, tmp_path):
    import shutil

    from wavetag.cli import _load_commands

    model = tmp_path / "model"
    shutil.copytree(tone_model / "best", model)
    args = ["detect", str(model), "--tune", str(tone_model.parent / "pack"), "--target-fa-per-hour", "40"]
    result = CliRunner().invoke(_load_commands(), args)
    assert result.exit_code == 0, result.output
    stored = json.loads((model / "config.json").read_text())["detection"]
    assert set(stored["thresholds"]) == {"low", "mid", "high"} and stored["target_fa_per_hour"] == 40.0
    assert resolve_settings(Predictor.load(model)).thresholds == stored["thresholds"]
    assert "stored in the model's config.json" in result.stdout


# ---------------------------------------------------------------------------- long validation streams, tuning on them


@pytest.fixture(scope="module")
def talk_pack(tmp_path_factory) -> Path:
    """The tone classes plus ``_unknown_`` "words" (other tones), 8 speakers split by speaker."""
    from wavetag.data import prepare

    root = tmp_path_factory.mktemp("talk")
    rng = np.random.default_rng(3)
    for label, freq in {"low": 300, "mid": 900, "high": 2500, "_unknown_": None}.items():
        (root / "src" / label).mkdir(parents=True)
        for i in range(24):
            hz = freq or rng.choice([500, 1400, 1900])
            x = tone(hz * rng.uniform(0.95, 1.05), rng.uniform(0.25, 0.5))
            sf.write(root / "src" / label / f"spk{i % 8}_nohash_{i}.wav", x, SR, subtype="PCM_16")
    prepare(
        root / "src",
        root / "pack",
        source="folder",
        sample_rate=SR,
        clip_seconds=CLIP_S,
        split="group:speaker",
        fractions=(0.5, 0.25, 0.25),
        jobs=1,
        progress=False,
    )
    return root / "pack"


def test_negative_streams_hold_background_and_talk_of_held_out_speakers(talk_pack, tmp_path):
    plain = build_streams(talk_pack, tmp_path / "plain", split="validation", minutes=0.5, seed=1)
    summary = build_streams(talk_pack, tmp_path / "s", split="validation", minutes=0.5, seed=1, negative_minutes=3)
    manifest, truth = read_streams(tmp_path / "s")
    negatives = [name for name in truth if name.startswith("neg_")]
    assert negatives and summary.negative_hours == pytest.approx(3 / 60, abs=1e-3)
    assert manifest["negative_hours"] == summary.negative_hours and manifest["negative_minutes"] == 3
    for name in plain.files:  # the keyword streams do not change when negatives are added
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "s" / name).read_bytes()
    words = [p for name in negatives for p in truth[name]]
    assert manifest["negative_talk_clips"] == summary.negative_talk_clips == len({p.source for p in words})
    assert words and {p.label for p in words} == {"_unknown_"}
    starts = np.array([p.start_s for p in words])
    ends = np.array([p.end_s for p in words])
    gaps = starts[1:] - ends[:-1]
    assert np.any(gaps < 0.3) and np.any(gaps >= 5.0)  # words said in phrases, and long stretches of background
    assert summary.speakers >= 1 and summary.speakers_in_train == 0  # validation speakers only
    pack = Pack.open(talk_pack)
    train_sources = set(pack.index.path[pack.split_indices("train")].astype(str).tolist())
    assert not {p.source for p in words} & train_sources


def test_tune_on_streams_picks_thresholds_and_smoothing(predictor, talk_pack, tmp_path):
    from wavetag.inference.thresholds import SMOOTH_GRID_S, tune_on_streams

    streams = tmp_path / "val"
    build_streams(talk_pack, streams, split="validation", minutes=1, negative_minutes=2)
    target = 40.0  # ~3 min of streams: one false accept is ~20 per hour
    detection = tune_on_streams(predictor, streams, target_fa_per_hour=target, min_clips_per_class=3)
    measured = detection["measured"]
    assert set(detection["thresholds"]) == {"low", "mid", "high"} and detection["fallback"] is None
    assert SMOOTH_GRID_S == (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)  # at a hop of 0.1 s, 0 and 0.1 s are the same
    assert detection["smooth_s"] in SMOOTH_GRID_S
    assert list(measured["smooth_s_tried"]) == ["0", "0.2", "0.3", "0.5", "0.8"]
    assert measured["split"] == "validation" and measured["negative_hours"] > 0 and "note" not in measured
    for label, m in measured["per_class"].items():
        assert m["tuned"] and m["threshold"] == detection["thresholds"][label]
        assert not m["met_target"] or m["fa_per_hour"] <= target
    check = evaluate_streams(  # the stored settings give what tuning measured on the same streams
        predictor,
        streams,
        thresholds=detection["thresholds"],
        smooth_s=detection["smooth_s"],
        hop_s=detection["hop_s"],
        refractory_s=detection["refractory_s"],
    )
    for label, c in check["per_class"].items():
        assert c["miss_rate"] == measured["per_class"][label]["miss_rate"]
        assert c["false_accepts"] == measured["per_class"][label]["false_accepts"]
    fixed = tune_on_streams(predictor, streams, target_fa_per_hour=1, smooth_s=0.2, min_clips_per_class=3)
    assert fixed["smooth_s"] == 0.2 and list(fixed["measured"]["smooth_s_tried"]) == ["0.2"]
    assert "coarser than the target 1; build at least 1 h" in fixed["measured"]["note"]


def test_tune_on_streams_refuses_training_speakers(predictor, talk_pack, tmp_path):
    from wavetag.inference.thresholds import tune_on_streams

    build_streams(talk_pack, tmp_path / "train", split="train", minutes=0.2)
    with pytest.raises(ConfigError, match=r"streams of the training split; tune on streams of the validation split"):
        tune_on_streams(predictor, tmp_path / "train")
    build_streams(talk_pack, tmp_path / "val", split="validation", minutes=0.2)
    manifest = json.loads((tmp_path / "val" / "streams.json").read_text())
    manifest["speakers_in_train"] = 1
    (tmp_path / "val" / "streams.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"1 of the streams' \d+ speakers also speak in the training split"):
        tune_on_streams(predictor, tmp_path / "val")


def test_cli_streams_negatives_and_tune_on(tone_model, talk_pack, tmp_path):
    import shutil

    from wavetag.cli import _load_commands

    app, runner = _load_commands(), CliRunner()
    streams = tmp_path / "val"
    args = ["streams", str(talk_pack), "-o", str(streams), "--split", "validation", "--minutes", "1"]
    result = runner.invoke(app, [*args, "--negative-minutes", "1"])
    assert result.exit_code == 0, result.output
    assert "min without keywords" in result.stdout and "from the validation split" in result.stdout
    assert "without keywords: talk from" in result.stdout and "distinct non-keyword clips" in result.stdout
    model = tmp_path / "model"
    shutil.copytree(tone_model / "best", model)
    result = runner.invoke(app, ["detect", str(model), "--tune-on", str(streams), "--target-fa-per-hour", "60"])
    assert result.exit_code == 0, result.output
    stored = json.loads((model / "config.json").read_text())["detection"]
    assert stored["measured"]["streams"] == str(streams) and stored["target_fa_per_hour"] == 60.0
    assert resolve_settings(Predictor.load(model)).smooth_s == stored["smooth_s"]
    assert "posteriors smoothed over" in result.stdout and "stored in the model's config.json" in result.stdout
