"""The reference listener: PocketSphinx as a second opinion on which test clips sound like their word."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
import soxr
from conftest import write_two_tone_pack

from wavetag.data.synth.espeak import get_espeak
from wavetag.errors import ConfigError
from wavetag.evaluate.reference import ReferenceListener, reference_lines, reference_markdown

WORDS = ["yes", "no", "left", "right", "stop"]


def espeak_word(word: str, *, pitch: int = 50, rate_wpm: int = 160) -> np.ndarray:
    """``word`` said by espeak-ng's US voice, int16 at 16 kHz with 0.2 s of silence on each side."""
    es = get_espeak()
    wav = es.synth(word, voice="en-us", pitch=pitch, rate_wpm=rate_wpm).astype(np.float32) / 32768
    x = soxr.resample(wav, es.sample_rate, 16_000)
    pad = np.zeros(3200, dtype=np.float32)
    return np.round(np.concatenate([pad, x, pad]) * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def listener() -> ReferenceListener:
    return ReferenceListener(WORDS)


def test_the_listener_hears_clear_words_as_themselves(listener):
    heard = {w: listener.hear(espeak_word(w)) for w in WORDS}
    assert heard == {w: w for w in WORDS}
    assert listener.hear(np.zeros(16_000, dtype=np.int16)) in (None, *WORDS)  # forced choice or nothing


def test_a_clip_is_heard_the_same_whatever_came_before(listener):
    clips = [espeak_word(w, pitch=p, rate_wpm=r) for w in WORDS for p, r in ((30, 140), (70, 220))]
    forward = [listener.hear(c) for c in clips]
    backward = [listener.hear(c) for c in reversed(clips)][::-1]
    assert forward == backward
    assert forward == [ReferenceListener(WORDS).hear(c) for c in clips]  # as a fresh listener hears them


@pytest.mark.parametrize(
    ("words", "match"),
    [
        (["dog_bark", "yes"], "'dog_bark' are not lower-case English words"),
        (["yes", "zzqxv"], "'zzqxv' not in its US-English pronouncing dictionary"),
        ([], "no word labels"),
    ],
)
def test_labels_that_are_not_dictionary_words_are_named(words, match):
    with pytest.raises(ConfigError, match=match):
        ReferenceListener(words)


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import pocketsphinx -> ImportError
    with pytest.raises(ConfigError, match="needs the 'pocketsphinx' package: pip install --no-deps pocketsphinx"):
        ReferenceListener(["yes"])


@pytest.fixture(scope="module")
def tone_run(tmp_path_factory):
    """A tiny model on a pack of 8-kHz tones labelled with two words ("low", "high")."""
    from wavetag.train import TrainConfig, train

    root = tmp_path_factory.mktemp("ref_tones")
    pack = write_two_tone_pack(root, clips_per_class=12, sample_rate=8000)
    cfg = TrainConfig(model="cnn1d", task="multiclass", epochs=1, batch_size=8, threads=1, tensorboard=False, seed=0)
    train(pack, cfg, root / "run", progress=False, verbose=False)
    return pack, root / "run"


def test_evaluate_reports_the_listener_beside_the_model(tone_run, tmp_path):
    from wavetag.data.pack import Pack
    from wavetag.evaluate import evaluate

    pack_dir, run = tone_run
    result = evaluate(run, pack_dir, split="all", out=tmp_path / "report", reference=True)
    ref = result.metrics["breakdown"]["reference"]
    pack = Pack.open(pack_dir)
    assert ref["clips"] == len(pack) == result.num_clips  # every clip has a word label, resampled 8 -> 16 kHz
    assert {r["label"] for r in ref["by_label"]} == {"low", "high"}
    assert sum(r["clips"] for r in ref["by_label"]) == ref["clips"]
    assert ref["model_accuracy"] == pytest.approx(result.metrics["overall"]["accuracy"])
    heard_right = round(ref["accuracy"] * ref["clips"])
    assert heard_right + ref["clips_not_heard"] == ref["clips"]
    parts = [(ref["model_accuracy_heard"], heard_right), (ref["model_accuracy_not_heard"], ref["clips_not_heard"])]
    assert sum(a * n for a, n in parts if n) == pytest.approx(ref["model_accuracy"] * ref["clips"])
    with open(tmp_path / "report" / "reference.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == ref["clips"] and set(rows[0]) == {"path", "label", "heard", "split", "model"}
    assert all(r["heard"] in ("", "low", "high") for r in rows)
    assert sum(r["heard"] == r["label"] for r in rows) == heard_right
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Reference listener" in report and "| the listener |" in report
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>Reference listener</h2>" in html and "<td>the listener</td>" in html
    assert "reference listener" in "\n".join(reference_lines(ref))
    assert reference_markdown(ref)[0] == "## Reference listener"


def test_evaluate_refuses_the_listener_before_writing_anything(tone_run, tmp_path, monkeypatch):
    from wavetag.evaluate import evaluate

    pack_dir, run = tone_run
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(ConfigError, match="pocketsphinx"):
        evaluate(run, pack_dir, out=tmp_path / "report", reference=True)
    assert not (tmp_path / "report").exists()


def test_the_cli_prints_the_listener(tone_run, tmp_path):
    from typer.testing import CliRunner

    import wavetag.cli.evaluate  # noqa: F401  (registers the command)
    from wavetag.cli.app import app

    pack_dir, run = tone_run
    out = CliRunner().invoke(
        app, ["evaluate", str(run), str(pack_dir), "--split", "all", "--reference", "-o", str(tmp_path / "r")]
    )
    assert out.exit_code == 0, out.output
    assert "reference listener" in out.output and "word clips as their word" in out.output


def test_a_binary_detector_is_refused_before_writing_anything(tone_run, tmp_path):
    from wavetag.evaluate import evaluate
    from wavetag.train import TrainConfig, train

    pack_dir, _ = tone_run
    cfg = TrainConfig(model="cnn1d", task="binary", epochs=1, batch_size=8, threads=1, tensorboard=False, seed=0)
    train(pack_dir, cfg, tmp_path / "run", progress=False, verbose=False)
    with pytest.raises(ConfigError, match="task is binary; the reference listener hears single-word clips"):
        evaluate(tmp_path / "run", pack_dir, out=tmp_path / "report", reference=True)
    assert not (tmp_path / "report").exists()


@pytest.fixture(scope="module")
def word_pack(tmp_path_factory):
    """A tiny synthetic Speech Commands set (espeak-ng, "yes" and "no") prepared into a pack."""
    from wavetag.data import prepare
    from wavetag.data.synth import speech_commands as sc

    root = tmp_path_factory.mktemp("ref_words")
    sc.synth_speech_commands(
        root / "set", speakers=6, words=["yes", "no"], engines=["espeak"], seed=3, noise_seconds=2.0, progress=False
    )
    prepare(root / "set", root / "pack", clip_seconds=1.0, words="yes,no", jobs=1, progress=False)
    return root / "pack"


def test_explore_lists_the_clips_the_listener_hears_as_another_word(word_pack, tmp_path):
    import json

    from wavetag.data.pack import Pack
    from wavetag.explore import explore

    result = explore(word_pack, tmp_path / "report", reference=True, progress=False)
    pack = Pack.open(word_pack)
    words = np.isin(pack.index.label, [pack.labels.index("yes"), pack.labels.index("no")])
    heard = result.reference
    assert sorted(heard.indices.tolist()) == np.flatnonzero(words).tolist()  # word clips only, not _unknown_
    assert set(heard.truth) == {"yes", "no"} and set(heard.heard) <= {"yes", "no", None}
    data = json.loads((tmp_path / "report" / "explore.json").read_text())["reference"]
    assert data["clips"] == len(heard.truth) and data["clips_not_heard"] == int((~heard.agrees).sum())
    assert {r["label"] for r in data["by_label"]} == {"yes", "no"}
    assert len(data["not_heard"]) == data["clips_not_heard"]
    with open(tmp_path / "report" / "reference.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == data["clips"] and set(rows[0]) == {"path", "label", "heard", "split"}
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Reference listener" in report and "the reference listener heard" in report

    plain = explore(word_pack, tmp_path / "plain", progress=False)
    assert plain.reference is None and not (tmp_path / "plain" / "reference.csv").exists()
    assert "Reference listener" not in (tmp_path / "plain" / "report.md").read_text()


def test_explore_refuses_the_listener_before_writing_anything(word_pack, tmp_path, monkeypatch):
    from wavetag.explore import explore

    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(ConfigError, match="pocketsphinx"):
        explore(word_pack, tmp_path / "report", reference=True, progress=False)
    assert not (tmp_path / "report").exists()


def test_the_explore_cli_prints_what_the_listener_heard(word_pack, tmp_path):
    from typer.testing import CliRunner

    import wavetag.cli.explore  # noqa: F401  (registers the command)
    from wavetag.cli.app import app

    args = ["explore", str(word_pack), "-o", str(tmp_path / "r"), "--reference", "--no-progress"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "reference listener: heard" in out.output and (tmp_path / "r" / "reference.csv").is_file()


def test_the_breakdown_markdown_becomes_html():
    from wavetag.evaluate.report import markdown_lines_html

    lines = ["## Non-keyword speech", "", "- `_unknown_` clips taken: 5 % <of> 20", "", "A note.", ""]
    lines += ["| engine | clips |", "|---|---|", "| flite | 3 |", "| a&b | 4 |", ""]
    html = markdown_lines_html(lines)
    assert html[0] == "<h2>Non-keyword speech</h2>"
    assert html[1] == "<ul><li><code>_unknown_</code> clips taken: 5 % &lt;of&gt; 20</li></ul>"
    assert html[2] == "<p>A note.</p>"
    assert "<th>engine</th>" in html[3] and "<td>flite</td>" in html[3] and "<td>a&amp;b</td>" in html[3]
    assert "---" not in html[3] and len(html) == 4
