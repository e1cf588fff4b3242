"""``explore``: the report finds what was planted in a tiny synthetic source, and the numbers are right.

The source has three classes (soft tones, noise, chirps) in train/validation/test split folders,
files named ``<speaker>_nohash_<n>.wav``; speaker spkC is in train and test (leakage); one noise
clip is copied byte for byte (exact duplicate); one train chirp reappears in validation with a
little noise added (near duplicate, across splits); and a loud click train sits among the soft
tones (outlier).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import wavetag.cli.explore  # noqa: F401  (registers the command)
from wavetag.cli.app import app
from wavetag.data import Pack, prepare
from wavetag.errors import ConfigError
from wavetag.explore import explore
from wavetag.explore import stats as S
from wavetag.explore.duplicates import near_duplicates
from wavetag.explore.leakage import find_leaks
from wavetag.explore.report import render_html, render_markdown

SR = 16000
N = SR // 2  # 0.5-s clips
LAYOUT = {"train": ["spkA", "spkB", "spkC"], "validation": ["spkD"], "test": ["spkE", "spkC"]}
TONE_HZ = [300, 520, 800, 1150, 1600, 2200, 2900, 3700, 4600, 5600, 6600, 7400]


def _tone(rng, freq_hz):
    t = np.arange(N) / SR
    env = np.zeros(N)
    env[rng.integers(0, N // 4) : rng.integers(3 * N // 4, N)] = 1.0
    return 0.05 * env * np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 6)) + 0.002 * rng.standard_normal(N)


def _noise(rng):
    k = int(rng.integers(2, 20))
    return np.convolve(rng.standard_normal(N) * 0.1, np.ones(k) / np.sqrt(k), mode="same") * rng.uniform(0.3, 1.0)


def _chirp(rng):
    t = np.arange(N) / SR
    f0, f1 = rng.uniform(200, 800), rng.uniform(2000, 6000)
    return 0.3 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2)) + 0.003 * rng.standard_normal(N)


def _write(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(x, np.float32), SR, subtype="PCM_16")


def make_source(root):
    """30 clips; returns the planted files (relative paths)."""
    rng = np.random.default_rng(0)
    freqs = iter(TONE_HZ)
    makers = {"tone": lambda: _tone(rng, next(freqs)), "noise": lambda: _noise(rng), "chirp": lambda: _chirp(rng)}
    n, made = 0, {}
    for split, speakers in LAYOUT.items():
        for spk in speakers:
            for label, make in makers.items():
                for k in range(2 if split == "train" else 1):
                    rel = f"{split}/{label}/{spk}_nohash_{n}.wav"
                    _write(root / rel, make())
                    made[(split, label, spk, k)] = rel
                    n += 1
    original = made[("train", "noise", "spkA", 0)]
    (root / "train/noise/spkB_nohash_90.wav").write_bytes((root / original).read_bytes())
    near_src = made[("train", "chirp", "spkB", 1)]
    x, _ = sf.read(str(root / near_src))
    _write(root / "validation/chirp/spkD_nohash_91.wav", x + 3e-4 * rng.standard_normal(len(x)))
    clicks = np.zeros(N)
    clicks[::400], clicks[1::400] = 0.95, -0.9
    _write(root / "train/tone/spkA_nohash_92.wav", clicks)
    return {
        "exact": {original, "train/noise/spkB_nohash_90.wav"},
        "near": {near_src, "validation/chirp/spkD_nohash_91.wav"},
        "outlier": "train/tone/spkA_nohash_92.wav",
    }


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    planted = make_source(root / "src")
    result = explore(root / "src", root / "report", prepare_options={"jobs": 1}, progress=False)
    return root, planted, result


def test_report_files_exist_and_are_pngs(explored):
    root, _, result = explored
    p = result.paths
    for path in (p.report_md, p.report_html, p.explore_json, p.clips_csv, p.spectra_npz):
        assert path.is_file() and path.stat().st_size > 0, path
    expected = {
        "class_counts",
        "durations",
        "sample_rates",
        "levels",
        "silence",
        "mean_spectra",
        "class_spectrograms",
        "band_violins",
        "pca",
    }
    assert set(p.plots) == expected
    for png in p.plots.values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (root / "report/plots/class_counts.png").is_file()
    assert result.prepared and result.pack_path == root / "report/pack"
    assert "prepared into" in p.report_md.read_text() and "prepared into" in " ".join(result.notes)


def test_exact_and_near_duplicates_are_found(explored):
    _, planted, result = explored
    pairs = {d.kind: d for d in result.duplicates}
    assert [d.kind for d in result.duplicates].count("exact") == 1
    assert [d.kind for d in result.duplicates].count("near") == 1
    exact, near = pairs["exact"], pairs["near"]
    assert {exact.path_a, exact.path_b} == planted["exact"] and exact.similarity == 1.0 and not exact.cross_split
    assert {near.path_a, near.path_b} == planted["near"] and 0.995 <= near.similarity < 1.0
    assert near.cross_split and {near.split_a, near.split_b} == {"train", "validation"}
    assert result.cross_split_duplicates == [near]
    assert result.duplicates[0] is near  # cross-split pairs are listed first


def test_the_click_train_is_a_top_outlier(explored):
    _, planted, result = explored
    top3 = [o.path for o in result.outliers[:3]]
    assert planted["outlier"] in top3
    assert len(result.outliers) == 20 and [o.rank for o in result.outliers] == list(range(1, 21))
    scores = [o.score for o in result.outliers]
    assert scores == sorted(scores, reverse=True)
    assert (result.paths.out_dir / "audio/outlier_001.wav").is_file()


def test_leak_names_the_speaker_in_two_splits(explored):
    _, _, result = explored
    assert [leak.group for leak in result.leaks] == ["spkC"]
    assert result.leaks[0].clips == {"train": 6, "test": 3}
    assert sorted(result.leaks[0].labels) == ["chirp", "noise", "tone"]
    assert result.leak_check.groups == 5


def test_explore_json_holds_the_numbers(explored):
    _, _, result = explored
    data = json.loads(result.paths.explore_json.read_text())
    assert data["num_clips"] == 30 and data["num_analysed"] == 30 and data["labels"] == ["chirp", "noise", "tone"]
    assert data["counts"]["train"] == {"chirp": 6, "noise": 7, "tone": 7}
    assert data["sample_rates"] == {"16000": 30}
    assert data["durations"]["min"] == data["durations"]["max"] == 0.5
    assert data["duplicates"]["exact_pairs"] == 1 and data["duplicates"]["cross_split_pairs"] == 1
    assert data["leakage"]["leaks"][0]["group"] == "spkC"
    assert len(data["mean_spectrum"]["db"]["tone"]) == len(data["mean_spectrum"]["freqs_hz"]) == 257
    rows = {r["label"]: r for r in data["per_class"]}
    assert rows["chirp"]["median_rms_dbfs"] > rows["tone"]["median_rms_dbfs"] + 10  # chirps are loud, tones soft
    with np.load(result.paths.spectra_npz) as z:
        assert z["mean_log_spec_db"].shape[:2] == (3, 257)
    assert len(result.paths.clips_csv.read_text().splitlines()) == 31


def test_cli_exits_2_on_leakage_and_0_with_no_leak_exit(explored, tmp_path):
    root, _, _ = explored
    pack = str(root / "report/pack")
    leaky = CliRunner().invoke(app, ["explore", pack, "-o", str(tmp_path / "r1"), "--no-progress", "--outliers", "3"])
    assert leaky.exit_code == 2, leaky.output
    assert "spkC (train 6, test 3)" in leaky.output and "report.html" in leaky.output
    assert "duplicates: 1 exact pair(s), 1 near pair(s); 1 across splits" in leaky.output
    quiet = CliRunner().invoke(
        app,
        [
            "explore",
            pack,
            "-o",
            str(tmp_path / "r2"),
            "--no-progress",
            "--outliers",
            "3",
            "--no-leak-exit",
            "--bands",
            "0-1000,1000-8000",
        ],
    )
    assert quiet.exit_code == 0, quiet.output
    assert (tmp_path / "r2/plots/class_counts.png").is_file()
    assert json.loads((tmp_path / "r2/explore.json").read_text())["bands_hz"] == [[0, 1000], [1000, 8000]]


def test_cli_help_states_the_exit_status():
    result = CliRunner().invoke(app, ["explore", "--help"])
    assert result.exit_code == 0
    assert "Exit status" in result.output and "--no-leak-exit" in result.output


# ---------------------------------------------------------------- numbers on known signals


@pytest.fixture(scope="module")
def known_pack(tmp_path_factory):
    """Five clips of different lengths with known levels, in one class ('a') and another ('b')."""
    root = tmp_path_factory.mktemp("known")
    t = np.arange(SR) / SR
    full_sine = 0.999 * np.sin(2 * np.pi * 1000 * t)  # 1 s, RMS -3.01 dBFS, 1 kHz
    half_silent = np.concatenate([np.zeros(SR // 2), 0.5 * np.sin(2 * np.pi * 250 * t[: SR // 2])])
    clips = {
        "a/x_nohash_0.wav": full_sine,
        "a/x_nohash_1.wav": half_silent,
        "b/y_nohash_0.wav": 0.1 * np.random.default_rng(1).standard_normal(int(0.37 * SR)),
        "b/y_nohash_1.wav": 0.2 * np.sin(2 * np.pi * 3000 * t[: int(1.3 * SR)]),
        "b/y_nohash_2.wav": 0.3 * np.sin(2 * np.pi * 500 * t[: int(0.1 * SR)]),
    }
    for rel, x in clips.items():
        _write(root / "src" / rel, x)
    prepare(root / "src", root / "pack", jobs=1, progress=False, split="random", fractions=(1, 0, 0))
    return Pack.open(root / "pack")


def _row(pack, name):
    return int(np.flatnonzero(pack.index.path == name)[0])


def test_levels_silence_and_bands_of_known_signals(known_pack):
    pack = known_pack
    bands = S.parse_bands("0-500,500-2000,2000-8000", SR)
    st = S.compute_stats(pack, np.arange(len(pack)), bands_hz=bands)
    sine, half = _row(pack, "a/x_nohash_0.wav"), _row(pack, "a/x_nohash_1.wav")
    assert st.rms_dbfs[sine] == pytest.approx(-3.01 + 20 * np.log10(0.999), abs=0.02)
    assert st.peak_dbfs[sine] == pytest.approx(20 * np.log10(0.999), abs=0.01)
    assert st.silence_share[sine] == 0.0
    assert st.silence_share[half] == pytest.approx(0.5, abs=0.03)  # the silent first half (frames straddle the edge)
    assert np.argmax(st.band_db[sine]) == 1  # 1 kHz lies in 500-2000 Hz
    assert st.band_db[sine, 1] == pytest.approx(st.rms_dbfs[sine], abs=0.05)  # all its power is in that band
    assert st.band_db[sine, 0] < st.band_db[sine, 1] - 60 and st.band_db[sine, 2] < st.band_db[sine, 1] - 60
    np.testing.assert_allclose(st.duration_s, pack.index.length / SR, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(st.summary, axis=1), 1.0, rtol=1e-5)
    assert st.class_clips.tolist() == [2, 3]


def test_batched_stats_equal_one_clip_at_a_time(known_pack, monkeypatch):
    pack = known_pack
    bands = S.parse_bands(None, SR)
    together = S.compute_stats(pack, np.arange(len(pack)), bands_hz=bands)
    monkeypatch.setattr(S, "BATCH_SAMPLES", 1)  # every clip in its own batch
    batch_sizes: list[int] = []
    alone = S.compute_stats(pack, np.arange(len(pack)), bands_hz=bands, advance=batch_sizes.append)
    assert batch_sizes == [1] * len(pack)
    for name in ("peak_dbfs", "rms_dbfs", "silence_share", "band_db", "log_mel_db", "summary"):
        np.testing.assert_allclose(getattr(together, name), getattr(alone, name), rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(together.mean_magnitude, alone.mean_magnitude, rtol=1e-4)
    np.testing.assert_allclose(together.mean_log_spec_db, alone.mean_log_spec_db, rtol=1e-4, atol=1e-3)


def test_max_clips_samples_and_says_so(known_pack, tmp_path):
    result = explore(known_pack.path, tmp_path / "r", max_clips=3, outliers=2, progress=False)
    assert result.num_analysed == 3 and result.num_clips == 5 and not result.prepared
    assert any("random sample of 3 of 5 clips" in note for note in result.notes)
    assert json.loads(result.paths.explore_json.read_text())["notes"] == result.notes
    assert len(result.paths.clips_csv.read_text().splitlines()) == 4
    assert result.leaks == []  # x and y each sit in train only


# ---------------------------------------------------------------- pieces


def test_near_duplicate_search_equals_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 64)).astype(np.float32)
    x[100] = x[7] + 0.01 * rng.standard_normal(64)
    x[200] = x[7] + 0.02 * rng.standard_normal(64)
    x[300] = x[42] + 0.05 * rng.standard_normal(64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    threshold = 0.998
    sim = x @ x.T
    i, j = np.nonzero(np.triu(sim >= threshold, k=1))
    brute = set(zip(i.tolist(), j.tolist(), strict=False))
    found = {(a, b) for a, b, _ in near_duplicates(x, threshold)}
    assert found == brute and {(7, 100), (7, 200), (100, 200)} <= found
    skip = np.zeros(600, bool)
    skip[100] = True
    assert {(a, b) for a, b, _ in near_duplicates(x, threshold, skip=skip)} == brute - {(7, 100), (100, 200)}


def test_find_leaks_ignores_noise_groups_and_counts_ungrouped_clips():
    group = np.array(["s1", "s1", "s2", "s2", "noise:white", "noise:white", "", "s3", "s3"])
    split = np.array([0, 2, 1, 1, 0, 2, 0, 0, 1])
    labels = np.array(["yes", "no", "yes", "yes", "_silence_", "_silence_", "up", "up", "up"])
    check = find_leaks(group, split, labels)
    assert [(x.group, x.clips) for x in check.leaks] == [
        ("s1", {"train": 1, "test": 1}),
        ("s3", {"train": 1, "validation": 1}),
    ]
    assert check.leaks[0].labels == ["no", "yes"]
    assert check.groups == 3 and check.clips_without_group == 1 and check.noise_clips == 2


def test_html_and_markdown_escape_everything():
    blocks = [
        ("h1", "<script>alert(1)</script>"),
        ("p", "a & b"),
        ("list", ["<b>x</b>"]),
        ("table", ["file"], [["<img src=x onerror=alert(1)>|pipe"]]),
    ]
    page = render_html(blocks, title="t<")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<img src=x" not in page and "<b>x" not in page
    md = render_markdown(blocks + [("p", "_silence_ *x*")])
    assert "<script>" not in md and "\\|pipe" in md and "\\_silence\\_ \\*x\\*" in md


@pytest.mark.parametrize(
    "text, match",
    [
        ("0-500,abc", "not LOW-HIGH in Hz"),
        ("500-100", "expected 0 <= low < high"),
        ("9000-10000", "above the pack's Nyquist frequency"),
        ("", "no band given"),
    ],
)
def test_bad_bands(text, match):
    with pytest.raises(ConfigError, match=match):
        S.parse_bands(text, SR)


def test_bands_are_cut_at_nyquist_and_default_to_three():
    assert S.parse_bands("0-500,2000-12000", SR) == ((0.0, 500.0), (2000.0, 8000.0))
    assert S.parse_bands(None, SR) == ((0.0, 500.0), (500.0, 2000.0), (2000.0, 8000.0))


def test_option_errors(known_pack, tmp_path):
    with pytest.raises(ConfigError, match="lies inside"):
        explore(known_pack.path, known_pack.path / "report", progress=False)
    with pytest.raises(ConfigError, match="already a pack"):
        explore(known_pack.path, tmp_path / "r", prepare_options={"sample_rate": 8000}, progress=False)
    with pytest.raises(ConfigError, match="unknown prepare option 'sampel_rate'; did you mean 'sample_rate'"):
        explore(tmp_path / "src", tmp_path / "r", prepare_options={"sampel_rate": 8000}, progress=False)
    with pytest.raises(ConfigError, match="near_duplicate_threshold"):
        explore(known_pack.path, tmp_path / "r", near_duplicate_threshold=0.5, progress=False)


def test_multi_label_pack(tmp_path):
    """A clip with two tags counts in both classes' spectra; its label reads 'a;b'."""
    rng = np.random.default_rng(3)
    rows = ["fname,labels,speaker"]
    for k in range(8):
        _write(tmp_path / "src" / f"{k}.wav", 0.1 * rng.standard_normal(N))
        tags = ["dog", "bark", "dog,bark"][k % 3]
        rows.append(f'{k}.wav,"{tags}",s{k % 2}')
    (tmp_path / "src" / "meta.csv").write_text("\n".join(rows) + "\n")
    result = explore(
        tmp_path / "src" / "meta.csv",
        tmp_path / "r",
        outliers=3,
        progress=False,
        prepare_options={"jobs": 1, "split": "random"},
    )
    assert sorted(result.labels) == ["bark", "dog"] and result.num_clips == 8
    data = json.loads(result.paths.explore_json.read_text())
    assert data["multi_label"] is True
    per_class = {r["label"]: r["analysed"] for r in data["per_class"]}
    assert per_class == {"bark": 5, "dog": 5}  # 3 single-tag clips each, plus the 2 with both tags
    assert any(";" in line for line in result.paths.clips_csv.read_text().splitlines())
    assert result.paths.plots["pca"].is_file()
