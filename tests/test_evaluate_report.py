"""write_report and write_leaderboard on tiny synthetic results."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from wavetag.errors import DataError
from wavetag.evaluate import compute_metrics, write_leaderboard, write_report
from wavetag.evaluate.plots import plot_training_curves, read_history, training_curve_panels

SAMPLE_RATE = 8000
LABELS = ["yes", "no", "<b>&"]  # the last one must come out escaped in the HTML
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result():
    """12 clips, 3 classes; clips 2, 5, 7 and 10 are misclassified."""
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    pred = y.copy()
    pred[[2, 5, 7, 10]] = [1, 2, 0, 1]
    probs = np.full((12, 3), 0.15)
    probs[np.arange(12), pred] = 0.7
    records = []
    for i in range(12):
        top = np.argsort(-probs[i], kind="stable")[:3]
        records.append(
            {
                "index": i,
                "path": f"clips/{LABELS[y[i]]}/take <{i}>.wav",
                "true": LABELS[y[i]],
                "predicted": LABELS[pred[i]],
                "score": float(probs[i, pred[i]]),
                "top3": [(LABELS[j], float(probs[i, j])) for j in top],
            }
        )
    return probs, y, records


def _sine(index: int) -> tuple[np.ndarray, int]:
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    return 0.5 * np.sin(2 * np.pi * (300 + 100 * index) * t).astype(np.float32), SAMPLE_RATE


def _history(path):
    # no train_metric / lr columns, and validation only every other row: both must be handled
    rows = ["epoch,step,train_loss,val_loss,val_metric"]
    rows += [
        f"{e},{10 * e},{1 / e:.3f},{'' if e % 2 else f'{1.2 / e:.3f}'},{'' if e % 2 else 0.5 + 0.05 * e}"
        for e in range(1, 7)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    probs, y, records = _result()
    metrics = compute_metrics(probs, y, task="multiclass", labels=LABELS)
    paths = write_report(
        out,
        metrics=metrics,
        labels=LABELS,
        task="multiclass",
        predictions=records,
        get_audio=_sine,
        history_csv=_history(out / "history.csv"),
        title="KWS <test>",
        split="test",
    )
    return paths


def test_report_writes_every_file(report):
    for p in (report.metrics_json, report.predictions_csv, report.report_md, report.report_html):
        assert p.is_file() and p.stat().st_size > 0
    assert set(report.plots) == {"confusion_matrix", "per_class_f1", "reliability", "training_curves"}
    for png in report.plots.values():
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(report.audio) == 4
    assert sf.info(str(report.audio[0])).subtype == "PCM_16"
    assert len(list((report.out_dir / "spectrograms").glob("*.png"))) == 4


def test_metrics_json_and_predictions_csv(report):
    m = json.loads(report.metrics_json.read_text())
    assert m["split"] == "test" and m["num_clips"] == 12
    assert m["overall"]["accuracy"] == pytest.approx(8 / 12)
    with open(report.predictions_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and sum(r["correct"] == "0" for r in rows) == 4
    assert rows[0]["top3"].startswith("yes:0.700;")


def test_html_has_a_player_per_misclassified_clip_and_escapes_user_strings(report):
    page = report.report_html.read_text()
    assert page.count("<audio controls") == 4
    assert page.count("src='spectrograms/") == 4
    assert "<b>&" not in page and "&lt;b&gt;&amp;" in page
    assert "take &lt;5&gt;.wav" in page and "KWS &lt;test&gt;" in page
    assert "Split: test · clips: 12 · task: multiclass" in page
    assert "<img src='plots/confusion_matrix.png'" in page


def test_markdown_states_split_and_lists_mistakes(report):
    md = report.report_md.read_text()
    assert md.splitlines()[2].startswith("Split: test · clips: 12")
    assert "4 misclassified clip(s); showing 4, most confident mistakes first" in md
    assert "| &lt;b&gt;&amp; | no | 1 | 25.0% |" in md  # a most-confused pair, escaped for Markdown
    assert "![Confusion matrix](plots/confusion_matrix.png)" in md


def test_report_without_audio_and_with_max_examples(tmp_path):
    probs, y, records = _result()
    metrics = compute_metrics(probs, y, task="multiclass", labels=LABELS)
    paths = write_report(
        tmp_path,
        metrics=metrics,
        labels=LABELS,
        task="multiclass",
        predictions=records,
        get_audio=None,
        history_csv=None,
        title="t",
        max_examples=2,
    )
    page = paths.report_html.read_text()
    assert "<audio" not in page and not (tmp_path / "audio").exists()
    assert "4 misclassified clip(s); showing 2" in page and "Split: not stated" in page


def test_report_rejects_incomplete_prediction_records(tmp_path):
    probs, y, records = _result()
    metrics = compute_metrics(probs, y, task="multiclass", labels=LABELS)
    del records[3]["top3"]
    with pytest.raises(DataError, match="prediction record 3 lacks top3"):
        write_report(tmp_path, metrics=metrics, labels=LABELS, task="multiclass", predictions=records, title="t")


def test_binary_report_draws_the_roc_curve(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    p = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    metrics = compute_metrics(p, y, task="binary", labels=["off", "on"])
    labels = ["off", "on"]
    records = [
        {
            "index": i,
            "path": f"{i}.wav",
            "true": labels[y[i]],
            "predicted": labels[int(p[i] >= 0.5)],
            "score": float(max(p[i], 1 - p[i])),
            "top3": [("on", float(p[i])), ("off", float(1 - p[i]))],
        }
        for i in range(40)
    ]
    paths = write_report(tmp_path, metrics=metrics, labels=labels, task="binary", predictions=records, title="t")
    assert paths.plots["roc_curve"].read_bytes()[:8] == PNG_MAGIC


def test_training_curves_tolerate_missing_columns(tmp_path):
    (tmp_path / "h.csv").write_text("epoch,train_loss\n1,0.9\n2,0.5\n")
    assert plot_training_curves(tmp_path / "h.csv", tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    (tmp_path / "empty.csv").write_text("epoch,notes\n1,hello\n")
    assert plot_training_curves(tmp_path / "empty.csv", tmp_path / "none.png") is None


def test_training_curves_show_the_task_metric_of_history_csv(tmp_path):
    """history.csv as `train` writes it: accuracy next to loss, train and validation."""
    (tmp_path / "h.csv").write_text(
        "epoch,step,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_lwlrap\n"
        "1,4,0.001,2.0,0.3,1.9,0.35,0.4\n2,8,0.0005,1.5,0.5,1.6,0.45,0.5\n"
    )
    history = read_history(tmp_path / "h.csv")
    assert training_curve_panels(history) == [
        ("loss", ["train_loss", "val_loss"]),
        ("accuracy", ["train_accuracy", "val_accuracy"]),
        ("learning rate", ["lr"]),
    ]
    assert training_curve_panels(history, metric_name="lwlrap")[1] == (
        "lwlrap / accuracy",
        ["val_lwlrap", "train_accuracy", "val_accuracy"],
    )
    assert plot_training_curves(tmp_path / "h.csv", tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC


def test_leaderboard_sorted_by_metric(tmp_path):
    rows = [
        {
            "model": "ds_cnn_s",
            "metric": 0.91,
            "macro_f1": 0.90,
            "params": 23_756,
            "macs": 5_400_000,
            "train_time_s": 120.5,
            "latency_ms": 1.2,
        },
        {"model": "broken", "metric": None},
        {
            "model": "bc_resnet_8",
            "family": "bc_resnet",
            "input_kind": "image",
            "frontend": "logmel 40",
            "metric": 0.97,
            "macro_f1": 0.96,
            "params": 321_000,
            "macs": 89_000_000,
            "train_time_s": 600.0,
            "latency_ms": 4.5,
        },
        {"model": "wavenet|tiny", "metric": 0.85, "macro_f1": 0.83, "params": 1_200_000},
    ]
    paths = write_leaderboard(tmp_path, rows, metric_name="accuracy")
    md = paths.markdown.read_text()
    assert md.index("bc_resnet_8") < md.index("ds_cnn_s") < md.index("wavenet\\|tiny") < md.index("broken")
    assert "| 1 | bc_resnet_8 | bc_resnet | image | logmel 40 | 0.9700 | 0.9600 | 321 k | 89 M | 600.0 | 4.50 |" in md
    assert "| family | input | front end |" in md
    with open(paths.csv, newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == ["bc_resnet_8", "ds_cnn_s", "wavenet|tiny", "broken"]
    assert table[0]["params"] == "321000" and table[3]["task_metric"] == ""
    assert (table[0]["family"], table[0]["input_kind"], table[0]["frontend"]) == ("bc_resnet", "image", "logmel 40")
    assert paths.chart.read_bytes()[:8] == PNG_MAGIC
    lower = write_leaderboard(tmp_path / "eer", rows[:1] + rows[2:], metric_name="EER", higher_is_better=False)
    assert lower.markdown.read_text().index("wavenet") < lower.markdown.read_text().index("bc_resnet_8")
    with pytest.raises(DataError, match="leaderboard row 0 lacks 'model' or 'metric'"):
        write_leaderboard(tmp_path, [{"model": "x"}])


def test_importing_evaluate_stays_light():
    code = "import sys, wavetag.evaluate; print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_multilabel_report_with_label_lists(tmp_path):
    tags = ["dog", "bark", "car"]
    targets = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]])
    probs = np.array([[0.9, 0.7, 0.1], [0.2, 0.1, 0.8], [0.3, 0.6, 0.1], [0.1, 0.4, 0.9]])
    metrics = compute_metrics(probs, targets, task="multilabel", labels=tags)
    records = [
        {
            "index": i,
            "path": f"{i}.wav",
            "true": [tags[c] for c in np.flatnonzero(t)],
            "predicted": tags[int(p.argmax())],
            "score": float(p.max()),
            "top3": [(tags[c], float(p[c])) for c in np.argsort(-p)],
        }
        for i, (t, p) in enumerate(zip(targets, probs, strict=False))
    ]
    paths = write_report(
        tmp_path, metrics=metrics, labels=tags, task="multilabel", predictions=records, get_audio=_sine, title="tags"
    )
    assert "per_class_ap" in paths.plots
    assert len(paths.audio) == 1  # only clip 2: best label 'bark' is not among its labels ['dog']
    with open(paths.predictions_csv, newline="") as f:
        assert next(csv.DictReader(f))["true"] == "dog;bark"
