"""The WaveNet report's binary on/off detector, end to end on the CLI: a two-class pack →
``train --recipe onoff`` with a ``wavenet_params.json`` → ``evaluate`` (ROC-AUC, EER, ROC curve) →
``detect --timeline`` on a long recording (on/off segments with timestamps)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from wavetag.cli import main
from wavetag.inference.detector import Event, Segment, on_off_segments

SR = 8000
ON_HZ, OFF_HZ = 1000.0, 300.0
PARAMS = {  # the classic ibab/tensorflow-wavenet keys, scaled down
    "filter_width": 2,
    "sample_rate": SR,
    "dilations": [1, 2, 4, 8, 16, 32, 64],
    "residual_channels": 8,
    "dilation_channels": 8,
    "quantization_channels": 64,
    "skip_channels": 16,
    "use_biases": True,
    "scalar_input": True,
    "initial_filter_width": 32,  # mu-law companded scalar input: learns these tones in a few steps
}


def run_cli(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"wavetag {' '.join(args)} exited {exc.code}"


def burst(freq_hz: float | None, rng: np.random.Generator, seconds: float = 0.5) -> np.ndarray:
    """A tone burst (or noise alone when ``freq_hz`` is None) in light noise, float32 ``[T]``."""
    t = np.arange(int(seconds * SR)) / SR
    tone = (
        0.0 if freq_hz is None else 0.4 * np.sin(2 * np.pi * freq_hz * rng.uniform(0.95, 1.05) * t) * np.hanning(len(t))
    )
    return (tone + 0.03 * rng.standard_normal(len(t))).astype(np.float32)


def test_on_off_segments_cover_the_recording():
    events = [Event("on", 1.0, 1.6, 0.9, 1.5), Event("on", 1.5, 2.0, 0.8, 1.9), Event("on", 4.0, 4.5, 0.7, 4.4)]
    assert on_off_segments(events, 6.0, on_label="on", off_label="off") == [
        Segment("off", 0.0, 1.0),
        Segment("on", 1.0, 2.0),
        Segment("off", 2.0, 4.0),
        Segment("on", 4.0, 4.5),
        Segment("off", 4.5, 6.0),
    ]
    assert on_off_segments([], 3.0, on_label="on", off_label="off") == [Segment("off", 0.0, 3.0)]
    assert on_off_segments([Event("on", 0.0, 3.0, 1.0, 0.5)], 3.0, on_label="on", off_label="off") == [
        Segment("on", 0.0, 3.0)
    ]


@pytest.mark.slow
def test_wavenet_on_off_detector_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for label, freqs in (("off", [OFF_HZ, None]), ("on", [ON_HZ])):  # off: the other tone, or nothing at all
        (tmp_path / "src" / label).mkdir(parents=True)
        for i in range(32):
            sf.write(tmp_path / "src" / label / f"spk{i % 6}_nohash_{i}.wav", burst(freqs[i % len(freqs)], rng), SR)
    (tmp_path / "wavenet_params.json").write_text(json.dumps(PARAMS))
    run_cli(
        [
            "prepare",
            str(tmp_path / "src"),
            "-o",
            str(tmp_path / "pack"),
            "--sample-rate",
            str(SR),
            "--clip-seconds",
            "0.5",
            "--jobs",
            "1",
            "--no-progress",
        ]
    )
    run = tmp_path / "run"
    run_cli(
        [
            "train",
            str(tmp_path / "pack"),
            "--recipe",
            "onoff",
            "--model-set",
            f"params={tmp_path / 'wavenet_params.json'}",
            "--epochs",
            "8",
            "--batch-size",
            "8",
            "--lr",
            "1e-2",
            "--threads",
            "1",
            "--no-progress",
            "-o",
            str(run),
        ]
    )
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["labels"] == ["off", "on"] and config["model"]["name"] == "wavenet_classifier"
    assert config["model"]["task"] == "binary" and config["model"]["kwargs"]["dilations"] == PARAMS["dilations"]
    run_cli(["evaluate", str(run), str(tmp_path / "pack"), "--split", "test"])
    metrics = json.loads((run / "report-test" / "metrics.json").read_text())
    assert metrics["task_metric"]["name"] == "roc_auc" and {"roc_auc", "eer"} <= set(metrics["overall"])
    assert (run / "report-test" / "plots" / "roc_curve.png").is_file()
    assert metrics["overall"]["roc_auc"] >= 0.9, metrics["overall"]  # tones 1 kHz vs 300 Hz: learnt in 8 epochs

    # A long recording: "on" at 2 s and 6.5 s, "off" at 4.5 s, noise elsewhere.
    long = 0.03 * rng.standard_normal(9 * SR).astype(np.float32)
    for at_s, freq in ((2.0, ON_HZ), (4.5, OFF_HZ), (6.5, ON_HZ)):
        long[int(at_s * SR) : int(at_s * SR) + SR // 2] = burst(freq, rng)
    sf.write(tmp_path / "long.wav", long, SR)
    capsys.readouterr()
    run_cli(
        [
            "detect",
            str(run / "best"),
            str(tmp_path / "long.wav"),
            "--timeline",
            "--format",
            "json",
            "--threshold",
            "0.5",
        ]
    )
    segments = json.loads(capsys.readouterr().out)
    assert segments[0]["start_s"] == 0.0 and segments[-1]["end_s"] == pytest.approx(9.0)
    assert all(a["end_s"] == b["start_s"] and a["label"] != b["label"] for a, b in itertools.pairwise(segments))
    on = [(s["start_s"], s["end_s"]) for s in segments if s["label"] == "on"]
    assert len(on) == 2, segments
    assert on[0][0] < 2.5 and on[0][1] > 2.0 and on[1][0] < 7.0 and on[1][1] > 6.5  # each overlaps its burst


def test_timeline_needs_a_binary_model(tmp_path, capsys):
    from wavetag.models import create_model, save_model_dir

    model = create_model("ds_cnn_s", num_classes=3, sample_rate=SR, clip_seconds=0.5)
    save_model_dir(model, tmp_path / "m", extra={"labels": ["a", "b", "c"]})
    sf.write(tmp_path / "long.wav", np.zeros(2 * SR, np.float32), SR)
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", str(tmp_path / "m"), str(tmp_path / "long.wav"), "--timeline"])
    assert exit_info.value.code == 1
    assert "--timeline needs a binary model" in capsys.readouterr().err


def test_a_detector_stuck_on_over_the_background_counts_false_accepts():
    """Scoring streams (and so tuning thresholds): one event held on for a minute over one
    keyword is one hit and a false accept per refractory period outside it, not a clean hit."""
    from wavetag.inference.stream_eval import ScoredStream, count_class
    from wavetag.inference.streams import Placement

    hop_s, n = 0.1, 600  # a minute of posteriors
    value_s = np.arange(n) * hop_s + 0.5
    truth = [Placement("on", 10.0, 11.0, "on/x.wav")]

    def counts(p_on: np.ndarray):
        stream = ScoredStream("s", np.stack([1 - p_on, p_on], axis=1), value_s, value_s + 0.5, hop_s, 60.0, truth)
        return count_class([stream], 1, "on", threshold=0.5, refractory_s=1.0, collar_s=0.25)

    stuck = counts(np.full(n, 0.9))
    assert stuck.hits == 1 and stuck.false_accepts == 58  # 60 s on, 1.5 s of it the keyword and its collars
    clean = np.full(n, 0.1)
    clean[(value_s > 10.0) & (value_s < 11.0)] = 0.9
    assert (counts(clean).hits, counts(clean).false_accepts) == (1, 0)
