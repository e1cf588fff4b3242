"""prepare: every source layout round-trips into a pack; bad input is named and refused or rejected."""

import csv
import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavetag.data import Pack, decode, prepare
from wavetag.data.splits import SC_TO_PACK, which_set
from wavetag.errors import ConfigError, DataError

SR = 16000
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def tone(seed: int, n: int) -> np.ndarray:
    """Deterministic int16 noise, distinct per seed."""
    return (np.random.default_rng(seed).standard_normal(n) * 3000).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, sr: int = SR, fmt: str | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sr, format=fmt)
    return samples


def read_back(pack_dir) -> dict[str, tuple[np.ndarray, str, str]]:
    """path -> (int16 samples, label(s), split) from a pack."""
    pack = Pack.open(pack_dir)
    out = {}
    for i in range(len(pack)):
        labels = (
            ",".join(pack.labels[c] for c in np.flatnonzero(pack.index.labels[i]))
            if pack.multi_label
            else pack.labels[pack.index.label[i]]
        )
        out[str(pack.index.path[i])] = (
            np.array(pack.clip(i)),
            labels,
            ["train", "validation", "test"][pack.index.split[i]],
        )
    return out


def rejected_rows(pack_dir) -> list[dict]:
    with open(Path(pack_dir) / "rejected.csv", newline="") as f:
        return list(csv.DictReader(f))


def make_folder(root: Path, classes=("cat", "dog", "bird"), per_class=4, n=3200) -> dict[str, np.ndarray]:
    written = {}
    for c, name in enumerate(classes):
        for k in range(per_class):
            rel = f"{name}/{name}{k}.wav"
            written[rel] = write_wav(root / rel, tone(100 * c + k, n + 160 * k))
    return written


def make_speech_commands(
    root: Path, *, extra=("bed", "cat"), speakers=6, lists=True, noise=True
) -> dict[str, np.ndarray]:
    written = {}
    for w, word in enumerate(WORDS + list(extra)):
        for s in range(speakers):
            for k in range(2):
                rel = f"{word}/{(w * 97 + s * 13) % 4096:08x}_nohash_{k}.wav"
                written[rel] = write_wav(root / rel, tone(1000 * w + 10 * s + k, 4000))
    if noise:
        write_wav(root / "_background_noise_" / "white_noise.wav", tone(7, 3 * SR))
        write_wav(root / "_background_noise_" / "pink_noise.wav", tone(8, 2 * SR))
    if lists:
        names = sorted(written)
        (root / "validation_list.txt").write_text("\n".join(names[0::10]) + "\n")
        (root / "testing_list.txt").write_text("\n".join(names[5::10]) + "\n")
    return written


# ---------------------------------------------------------------- folder


def test_folder_round_trip_exact(tmp_path):
    written = make_folder(tmp_path / "src")
    summary = prepare(tmp_path / "src", tmp_path / "pack", progress=False, jobs=1)
    back = read_back(tmp_path / "pack")
    assert set(back) == set(written)
    for rel, samples in written.items():
        np.testing.assert_array_equal(back[rel][0], samples)
        assert back[rel][1] == rel.split("/")[0]
    assert summary.labels == ["bird", "cat", "dog"] and summary.num_clips == 12 and summary.rejected == 0
    assert summary.total_seconds == pytest.approx(sum(len(x) for x in written.values()) / SR)
    pack = Pack.open(tmp_path / "pack")
    assert pack.sample_rate == SR and not pack.multi_label and pack.clip_seconds is None
    assert json.loads((tmp_path / "pack" / "labels.json").read_text()) == ["bird", "cat", "dog"]
    assert sum(sum(c.values()) for c in summary.counts.values()) == 12


def test_parallel_decode_gives_the_same_pack(tmp_path):
    make_folder(tmp_path / "src", per_class=10)
    prepare(tmp_path / "src", tmp_path / "p1", progress=False, jobs=1)
    prepare(tmp_path / "src", tmp_path / "p2", progress=False, jobs=2)
    assert (tmp_path / "p1" / "audio.int16").read_bytes() == (tmp_path / "p2" / "audio.int16").read_bytes()
    assert (tmp_path / "p1" / "index.csv").read_text() == (tmp_path / "p2" / "index.csv").read_text()


def test_folder_formats_clip_seconds_and_lossless_flac(tmp_path):
    src = tmp_path / "src"
    flac = write_wav(src / "a" / "x.flac", tone(1, 8000))
    write_wav(src / "a" / "y.ogg", (np.sin(np.arange(8000) / 10) * 0.3).astype(np.float32), fmt="OGG")
    write_wav(src / "b" / "w.mp3", (np.sin(np.arange(8000) / 10) * 0.3).astype(np.float32), fmt="MP3")
    write_wav(src / "b" / "z.wav", tone(2, 24000))
    prepare(src, tmp_path / "pack", clip_seconds=1.0, progress=False, jobs=1)
    back = read_back(tmp_path / "pack")
    assert set(back) == {"a/x.flac", "a/y.ogg", "b/w.mp3", "b/z.wav"}
    assert {len(v[0]) for v in back.values()} == {SR}
    np.testing.assert_array_equal(back["a/x.flac"][0][:8000], flac)
    assert not back["a/x.flac"][0][8000:].any()  # padded with zeros at the end
    np.testing.assert_array_equal(back["b/z.wav"][0], tone(2, 24000)[:SR])  # trimmed at the end


def test_audiofolder_metadata_csv(tmp_path):
    src = tmp_path / "src"
    a = write_wav(src / "data" / "1.wav", tone(1, 3200))
    b = write_wav(src / "data" / "2.wav", tone(2, 3200))
    write_wav(src / "data" / "3.wav", tone(3, 3200))  # not listed: no label
    (src / "metadata.csv").write_text("file_name,label\ndata/1.wav,up\ndata/2.wav,down\n")
    summary = prepare(src, tmp_path / "pack", progress=False, jobs=1)
    back = read_back(tmp_path / "pack")
    np.testing.assert_array_equal(back["data/1.wav"][0], a)
    np.testing.assert_array_equal(back["data/2.wav"][0], b)
    assert back["data/1.wav"][1] == "up" and summary.labels == ["down", "up"]
    rows = rejected_rows(tmp_path / "pack")
    assert [(r["path"], r["reason"]) for r in rows] == [("data/3.wav", "no label")]
    assert "not listed in metadata.csv" in rows[0]["detail"]


def test_split_folders_are_honoured(tmp_path):
    src = tmp_path / "src"
    for split in ("train", "validation", "test"):
        for label in ("a", "b"):
            write_wav(src / split / label / f"{split}{label}.wav", tone(hash(split + label) % 1000, 2000))
    prepare(src, tmp_path / "pack", progress=False, jobs=1)
    back = read_back(tmp_path / "pack")
    assert {rel: (lab, split) for rel, (_, lab, split) in back.items()} == {
        f"{s}/{label}/{s}{label}.wav": (label, s) for s in ("train", "validation", "test") for label in ("a", "b")
    }


def test_random_split_is_stratified_and_seeded(tmp_path):
    make_folder(tmp_path / "src", per_class=10)
    s = prepare(tmp_path / "src", tmp_path / "pack", split="random", fractions=(0.6, 0.2, 0.2), seed=5, progress=False)
    for label in ("bird", "cat", "dog"):
        assert (s.counts["train"][label], s.counts["validation"][label], s.counts["test"][label]) == (6, 2, 2)


# ---------------------------------------------------------------- speech commands


@pytest.fixture(scope="module")
def sc(tmp_path_factory):
    """A Speech Commands tree with lists and background noise: (root, written clips)."""
    root = tmp_path_factory.mktemp("sc") / "speech_commands"
    return root, make_speech_commands(root)


@pytest.fixture(scope="module")
def sc_without_lists(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc") / "speech_commands"
    return root, make_speech_commands(root, lists=False)


def test_speech_commands_lists_unknown_and_silence(tmp_path, sc):
    src, written = sc
    summary = prepare(src, tmp_path / "pack", progress=False, jobs=2)
    assert summary.labels == ["_silence_", "_unknown_"] + WORDS
    back = read_back(tmp_path / "pack")
    val = set((src / "validation_list.txt").read_text().split())
    test = set((src / "testing_list.txt").read_text().split())
    targets = {rel: v for rel, v in back.items() if v[1] in WORDS}
    assert len(targets) == 10 * 6 * 2
    for rel, (samples, label, split) in targets.items():
        np.testing.assert_array_equal(samples, written[rel])
        assert label == rel.split("/")[0]
        assert split == ("validation" if rel in val else "test" if rel in test else "train")
    for split in ("train", "validation", "test"):
        n_target = sum(summary.counts[split][w] for w in WORDS)
        pool = sum(
            1
            for rel in written
            if rel.split("/")[0] in ("bed", "cat")
            and ("validation" if rel in val else "test" if rel in test else "train") == split
        )
        assert summary.counts[split]["_unknown_"] == min(pool, math.ceil(0.1 * n_target))
        assert summary.counts[split]["_silence_"] == math.ceil(0.1 * n_target)
    for rel, (samples, label, _split) in back.items():
        if label == "_unknown_":
            assert rel.split("/")[0] in ("bed", "cat")
            np.testing.assert_array_equal(samples, written[rel])


def test_silence_clips_are_scaled_noise_windows(tmp_path, sc):
    src, _ = sc
    prepare(src, tmp_path / "pack", progress=False, jobs=1)
    noise = {"white_noise.wav": tone(7, 3 * SR), "pink_noise.wav": tone(8, 2 * SR)}
    silence = [(rel, x) for rel, (x, label, _) in read_back(tmp_path / "pack").items() if label == "_silence_"]
    assert silence
    for rel, x in silence:
        name, frag = rel.split("/")[-1].split("#t=")
        start = int(round(float(frag.split(",")[0]) * SR))
        window = noise[name][start : start + SR].astype(np.float64)
        assert len(x) == SR
        gain = float(x @ window / (window @ window))
        assert 0 <= gain <= 1
        np.testing.assert_allclose(x, window * gain, atol=1.0)
    pack = Pack.open(tmp_path / "pack")
    bank = pack.noise_bank()
    assert bank.dtype == np.float32 and len(bank) == 5 * SR
    files = {f["path"]: f for f in pack.noise_files()}
    white = files["_background_noise_/white_noise.wav"]
    np.testing.assert_array_equal(
        bank[white["offset"] : white["offset"] + white["length"]] * 32768, noise["white_noise.wav"]
    )


def test_speech_commands_hash_fallback_without_lists(tmp_path, sc_without_lists):
    src, _ = sc_without_lists
    prepare(src, tmp_path / "pack", progress=False, jobs=1, silence_share=0, unknown_share=0)
    back = read_back(tmp_path / "pack")
    assert len(back) == 120
    for rel, (_, _, split) in back.items():
        assert split == SC_TO_PACK[which_set(rel)]


def test_speech_commands_all_words_is_the_35_class_style_task(tmp_path, sc):
    src, _ = sc
    summary = prepare(src, tmp_path / "pack", words="all", progress=False, jobs=1)
    assert summary.labels == sorted(WORDS + ["bed", "cat"])  # no _silence_, no _unknown_
    assert summary.num_clips == 12 * 6 * 2


def test_speech_commands_word_subset(tmp_path, sc):
    src, _ = sc
    summary = prepare(src, tmp_path / "pack", words="yes,no", unknown_share=0.5, silence_share=0, progress=False)
    assert summary.labels == ["_unknown_", "yes", "no"]
    n_target = sum(summary.counts["train"][w] for w in ("yes", "no"))
    assert summary.counts["train"]["_unknown_"] == math.ceil(0.5 * n_target)


def test_wrong_word_suggests_close_words(tmp_path, sc):
    with pytest.raises(ConfigError, match=r"'yess' is not a word.*did you mean 'yes'"):
        prepare(sc[0], tmp_path / "pack", words="yess,no", progress=False)


# ---------------------------------------------------------------- csv


def test_fsdkaggle2018_csv_with_verified_flags(tmp_path):
    audio = tmp_path / "audio_train"
    a = write_wav(audio / "00044347.wav", tone(1, 5000))
    write_wav(audio / "001ca53d.wav", tone(2, 7000), sr=44100)
    c = write_wav(audio / "002d256b.wav", tone(3, 4000))
    meta = tmp_path / "train.csv"
    meta.write_text(
        "fname,label,manually_verified\n00044347.wav,Hi-hat,0\n001ca53d.wav,Saxophone,1\n"
        "002d256b.wav,Trumpet,1\nmissing.wav,Trumpet,1\n"
    )
    summary = prepare(meta, tmp_path / "pack", audio_root=audio, progress=False, jobs=1)
    pack = Pack.open(tmp_path / "pack")
    assert pack.labels == ["Hi-hat", "Saxophone", "Trumpet"]
    by_path = {str(p): i for i, p in enumerate(pack.index.path)}
    np.testing.assert_array_equal(pack.clip(by_path["00044347.wav"]), a)
    np.testing.assert_array_equal(pack.clip(by_path["002d256b.wav"]), c)
    assert len(pack.clip(by_path["001ca53d.wav"])) == round(7000 * SR / 44100)  # resampled from 44.1 kHz
    assert [bool(pack.index.verified[by_path[n]]) for n in ("00044347.wav", "001ca53d.wav")] == [False, True]
    assert summary.resampled == {"44100": 1}
    assert any("resampled 1 files to 16,000 Hz (1 from 44,100 Hz)" in w for w in summary.warnings)
    rows = rejected_rows(tmp_path / "pack")
    assert [(r["path"], r["row"], r["reason"]) for r in rows] == [("missing.wav", "4", "missing file")]
    assert "train.csv row 4: missing.wav not found" in rows[0]["detail"]


def test_multi_label_csv(tmp_path):
    root = tmp_path / "fsd"
    clips = {f"{i}.wav": write_wav(root / "audio" / f"{i}.wav", tone(i, 3000)) for i in range(3)}
    (root / "train_curated.csv").write_text('fname,labels\n0.wav,"Bark,Dog"\n1.wav,Bark\n2.wav,"Meow, Dog"\n')
    prepare(root, tmp_path / "pack", csv="train_curated.csv", audio_root=root / "audio", progress=False, jobs=1)
    pack = Pack.open(tmp_path / "pack")
    assert pack.multi_label and pack.labels == ["Bark", "Dog", "Meow"]
    hot = {str(p): pack.index.labels[i].tolist() for i, p in enumerate(pack.index.path)}
    assert hot == {"0.wav": [1, 1, 0], "1.wav": [1, 0, 0], "2.wav": [0, 1, 1]}
    assert (pack.index.label == -1).all()
    for i, p in enumerate(pack.index.path):
        np.testing.assert_array_equal(pack.clip(i), clips[str(p)])


def test_group_column_split_keeps_speakers_apart(tmp_path):
    root = tmp_path / "src"
    lines = ["fname,label,speaker"]
    for i in range(60):
        write_wav(root / f"{i}.wav", tone(i, 2000))
        lines.append(f"{i}.wav,{'ab'[i % 2]},spk{i % 12}")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    prepare(root, tmp_path / "pack", csv="meta.csv", split="group:speaker", progress=False, jobs=1)
    pack = Pack.open(tmp_path / "pack")
    per_speaker = {}
    for g, s in zip(pack.index.group, pack.index.split, strict=False):
        per_speaker.setdefault(str(g), set()).add(int(s))
    assert len(per_speaker) == 12 and all(len(s) == 1 for s in per_speaker.values())
    with pytest.raises(ConfigError, match="group column.*'speakr'.*did you mean 'speaker'"):
        prepare(root, tmp_path / "pack2", csv="meta.csv", split="group:speakr", progress=False)


# ---------------------------------------------------------------- npz


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    wav = (rng.standard_normal((6, 8000)) * 0.1).astype(np.float32)
    np.savez(
        tmp_path / "train.npz",
        wav_vals=wav,
        label_vals=np.array([[0], [1], [2], [0], [1], [2]]),
        label_names=np.array(["yes", "no", "up"]),
    )
    with pytest.raises(ConfigError, match="--source-sample-rate 8000"):
        prepare(tmp_path / "train.npz", tmp_path / "pack", sample_rate=8000, progress=False)
    summary = prepare(
        tmp_path / "train.npz", tmp_path / "pack", sample_rate=8000, source_sample_rate=8000, progress=False
    )
    pack = Pack.open(tmp_path / "pack")
    assert pack.labels == ["no", "up", "yes"] and summary.num_clips == 6
    for i in range(6):
        assert pack.index.path[i] == f"train.npz#row={i}"
        np.testing.assert_array_equal(pack.clip(i), decode.to_int16(wav[i]))
        assert pack.labels[pack.index.label[i]] == ["yes", "no", "up"][i % 3]


def test_npz_string_labels_and_stored_rate_resampled(tmp_path):
    wav = (np.arange(6 * 800).reshape(6, 800) % 200 - 100).astype(np.int16)
    np.savez(tmp_path / "d.npz", wav_vals=wav, label_vals=np.array(["a", "b"] * 3).reshape(6, 1), sample_rate=8000)
    summary = prepare(tmp_path / "d.npz", tmp_path / "pack", sample_rate=16000, progress=False)
    pack = Pack.open(tmp_path / "pack")
    assert pack.labels == ["a", "b"] and {int(n) for n in pack.index.length} == {1600}
    assert summary.resampled == {"8000": 6}


# ---------------------------------------------------------------- re-runs and atomicity


def test_rerun_is_a_noop_until_the_source_or_options_change(tmp_path):
    make_folder(tmp_path / "src")
    first = prepare(tmp_path / "src", tmp_path / "pack", progress=False, jobs=1)
    stamp = (tmp_path / "pack" / "audio.int16").stat().st_mtime_ns
    again = prepare(tmp_path / "src", tmp_path / "pack", progress=False, jobs=2)
    assert not first.unchanged and again.unchanged
    assert again.counts == first.counts and (tmp_path / "pack" / "audio.int16").stat().st_mtime_ns == stamp
    write_wav(tmp_path / "src" / "cat" / "new.wav", tone(99, 3000))
    assert not prepare(tmp_path / "src", tmp_path / "pack", progress=False).unchanged
    assert Pack.open(tmp_path / "pack").index.path.tolist().count("cat/new.wav") == 1
    assert not prepare(tmp_path / "src", tmp_path / "pack", sample_rate=8000, progress=False).unchanged
    assert prepare(tmp_path / "src", tmp_path / "pack", sample_rate=8000, progress=False).unchanged
    assert not prepare(tmp_path / "src", tmp_path / "pack", sample_rate=8000, force=True, progress=False).unchanged
    assert {p.name for p in tmp_path.iterdir()} == {"src", "pack"}  # no partial or old folders left


def test_worker_crashing_on_every_file_rejects_them_all_and_leaves_no_pack(tmp_path, monkeypatch):
    make_folder(tmp_path / "src", per_class=6)
    monkeypatch.setattr(decode, "decode_file", lambda ref, opts: os._exit(3))  # forked workers inherit it
    with pytest.raises(DataError, match=r"all 18 clips were rejected \(decoder crashed: 18\); first: bird/bird0.wav"):
        prepare(tmp_path / "src", tmp_path / "pack", progress=False, jobs=2)
    assert {p.name for p in tmp_path.iterdir()} == {"src"}


def test_refuses_to_overwrite_a_folder_that_is_not_a_pack(tmp_path):
    make_folder(tmp_path / "src")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a wavetag pack"):
        prepare(tmp_path / "src", tmp_path / "out", progress=False)


# ---------------------------------------------------------------- bad input


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: source not found.*check the path"):
        prepare(tmp_path / "nowhere", tmp_path / "pack", progress=False)


def test_empty_class_folder_is_reported_and_left_out(tmp_path):
    make_folder(tmp_path / "src")
    (tmp_path / "src" / "frog").mkdir()
    summary = prepare(tmp_path / "src", tmp_path / "pack", progress=False)
    assert "frog" not in summary.labels
    assert any("frog/ is empty" in w for w in summary.warnings)
    assert [(r["path"], r["reason"]) for r in rejected_rows(tmp_path / "pack")] == [("frog/", "empty class folder")]


def test_files_with_no_label(tmp_path):
    make_folder(tmp_path / "src")
    write_wav(tmp_path / "src" / "stray.wav", tone(5, 3000))
    prepare(tmp_path / "src", tmp_path / "pack", progress=False)
    rows = rejected_rows(tmp_path / "pack")
    assert [(r["path"], r["reason"]) for r in rows] == [("stray.wav", "no label")]
    assert "move it into" in rows[0]["detail"]


def test_csv_row_with_empty_label_is_rejected(tmp_path):
    write_wav(tmp_path / "a.wav", tone(1, 3000))
    write_wav(tmp_path / "b.wav", tone(2, 3000))
    write_wav(tmp_path / "c.wav", tone(3, 3000))  # a second class: a one-class pack is refused
    (tmp_path / "m.csv").write_text("fname,label\na.wav,x\nb.wav,\nc.wav,y\n")
    prepare(tmp_path / "m.csv", tmp_path / "pack", progress=False)
    rows = rejected_rows(tmp_path / "pack")
    assert [(r["path"], r["row"], r["reason"]) for r in rows] == [("b.wav", "2", "no label")]


def test_unreadable_and_too_short_files_are_rejected_and_the_run_finishes(tmp_path):
    written = make_folder(tmp_path / "src", per_class=3)
    (tmp_path / "src" / "cat" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (tmp_path / "src" / "dog" / "empty.wav").write_bytes(b"")
    write_wav(tmp_path / "src" / "dog" / "short.wav", tone(3, 800))  # 0.05 s
    summary = prepare(tmp_path / "src", tmp_path / "pack", progress=False, jobs=2)
    assert summary.num_clips == len(written) and summary.rejected == 3
    rows = {r["path"]: r for r in rejected_rows(tmp_path / "pack")}
    assert (
        rows["cat/broken.wav"]["reason"] == "unreadable" and "cannot decode audio" in rows["cat/broken.wav"]["detail"]
    )
    assert rows["dog/empty.wav"]["reason"] == "unreadable" and "empty" in rows["dog/empty.wav"]["detail"]
    assert rows["dog/short.wav"]["reason"] == "too short"
    assert "0.050 s (expected at least 0.1 s = 1,600 samples at 16,000 Hz)" in rows["dog/short.wav"]["detail"]
    assert summary.rejected_reasons == {"unreadable": 2, "too short": 1}


def test_all_clips_rejected_says_why_and_writes_nothing(tmp_path):
    write_wav(tmp_path / "src" / "a" / "x.wav", tone(1, 100))
    write_wav(tmp_path / "src" / "b" / "y.wav", tone(2, 100))  # two classes: one class alone is refused earlier
    with pytest.raises(DataError, match=r"all 2 clips were rejected \(too short: 2\).*/.\.wav"):
        prepare(tmp_path / "src", tmp_path / "pack", progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {"src"}


def test_mixed_sample_rates_are_resampled_and_reported(tmp_path):
    src = tmp_path / "src"
    write_wav(src / "a" / "lo.wav", tone(1, 4000), sr=8000)
    write_wav(src / "a" / "hi.wav", tone(2, 16000), sr=16000)
    write_wav(src / "b" / "cd.wav", tone(3, 22050), sr=44100)
    summary = prepare(src, tmp_path / "pack", progress=False)
    assert summary.resampled == {"8000": 1, "44100": 1}
    assert any("mixed sample rates: resampled 2 files to 16,000 Hz" in w for w in summary.warnings)
    lengths = {rel: len(x) for rel, (x, _, _) in read_back(tmp_path / "pack").items()}
    assert lengths == {"a/lo.wav": 8000, "a/hi.wav": 16000, "b/cd.wav": 8000}


def test_labels_differing_only_in_case_are_refused(tmp_path):
    write_wav(tmp_path / "src" / "Dog" / "1.wav", tone(1, 3000))
    write_wav(tmp_path / "src" / "dog" / "2.wav", tone(2, 3000))
    write_wav(tmp_path / "src" / "cat" / "3.wav", tone(3, 3000))
    with pytest.raises(
        DataError, match=r"differ only in case: 'Dog' \(1 files, e.g. Dog/1.wav\); 'dog' \(1 files, e.g. dog/2.wav\)"
    ):
        prepare(tmp_path / "src", tmp_path / "pack", progress=False)


def test_bad_options_name_the_field(tmp_path):
    make_folder(tmp_path / "src")
    with pytest.raises(ConfigError, match="clip_seconds = 0.01 is out of range"):
        prepare(tmp_path / "src", tmp_path / "pack", clip_seconds=0.01, progress=False)
    with pytest.raises(ConfigError, match="split = 'speaker'"):
        prepare(tmp_path / "src", tmp_path / "pack", split="speaker", progress=False)
    with pytest.raises(ConfigError, match="unknown source 'folders'; did you mean 'folder'"):
        prepare(tmp_path / "src", tmp_path / "pack", source="folders", progress=False)
    with pytest.raises(ConfigError, match="--words applies to speech-commands"):
        prepare(tmp_path / "src", tmp_path / "pack", words="yes", progress=False)
    with pytest.raises(ConfigError, match="split 'lists'.*gives no splits"):
        prepare(tmp_path / "src", tmp_path / "pack", split="lists", progress=False)


def test_vad_trims_leading_and_trailing_silence(tmp_path):
    t = np.arange(SR // 2) / SR
    voiced = (np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) * 0.3 * 32767).astype(np.int16)
    clip = np.concatenate([np.zeros(SR, np.int16), voiced, np.zeros(SR, np.int16)])
    write_wav(tmp_path / "src" / "a" / "x.wav", clip)
    write_wav(tmp_path / "src" / "b" / "y.wav", clip)  # a second class: a one-class pack is refused
    prepare(tmp_path / "src", tmp_path / "pack", vad=True, progress=False)
    n = int(Pack.open(tmp_path / "pack").index.length[0])
    assert SR // 2 <= n < len(clip) - SR // 2
    reasons = Counter(r["reason"] for r in rejected_rows(tmp_path / "pack"))
    assert not reasons


# ---------------------------------------------------------------- detection and noise banks


def test_auto_detects_speech_commands_without_lists_by_noise_and_names(tmp_path, sc_without_lists):
    assert prepare(sc_without_lists[0], tmp_path / "pack", progress=False).source == "speech-commands"


def test_folder_with_background_noise_stays_a_folder_and_keeps_the_noise(tmp_path):
    make_folder(tmp_path / "src")
    write_wav(tmp_path / "src" / "_background_noise_" / "hum.wav", tone(9, SR))
    summary = prepare(tmp_path / "src", tmp_path / "pack", progress=False)
    assert summary.source == "folder" and summary.labels == ["bird", "cat", "dog"]
    assert summary.noise_seconds == 1.0
    np.testing.assert_array_equal(Pack.open(tmp_path / "pack").noise_bank() * 32768, tone(9, SR))


def test_noise_dir_option_fills_the_noise_bank(tmp_path):
    make_folder(tmp_path / "src")
    write_wav(tmp_path / "noise" / "a.wav", tone(1, 8000), sr=8000)
    write_wav(tmp_path / "noise" / "deeper" / "b.flac", tone(2, 4000))
    summary = prepare(tmp_path / "src", tmp_path / "pack", noise_dir=tmp_path / "noise", progress=False)
    pack = Pack.open(tmp_path / "pack")
    assert summary.noise_seconds == pytest.approx(1.25)
    assert [f["length"] for f in pack.noise_files()] == [16000, 4000]
    assert len(pack.noise_bank()) == 20000


def test_a_pack_written_inside_its_source_is_not_a_class(tmp_path):
    make_folder(tmp_path / "src")
    prepare(tmp_path / "src", tmp_path / "src" / "pack", progress=False)
    again = prepare(tmp_path / "src", tmp_path / "src" / "pack", progress=False)
    assert again.unchanged and again.labels == ["bird", "cat", "dog"] and again.rejected == 0


def test_csv_that_is_not_utf8_names_the_row(tmp_path):
    write_wav(tmp_path / "a.wav", tone(1, 3000))
    (tmp_path / "m.csv").write_bytes(b"fname,label\na.wav,caf\xe9\n")
    with pytest.raises(DataError, match=r"m.csv: cannot read it as a UTF-8 CSV near data row 1"):
        prepare(tmp_path / "m.csv", tmp_path / "pack", progress=False)


def test_folder_without_clips_explains_the_layout(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no labelled audio clips found.*root/<label>/\*.wav"):
        prepare(tmp_path / "src", tmp_path / "pack", progress=False)


def test_group_split_on_a_folder_uses_the_speaker_prefix(tmp_path):
    for i in range(40):
        write_wav(tmp_path / "src" / "ab"[i % 2] / f"spk{i % 8}_nohash_{i}.wav", tone(i, 2000))
    prepare(tmp_path / "src", tmp_path / "pack", split="group:speaker", progress=False)
    pack = Pack.open(tmp_path / "pack")
    per_speaker = {}
    for g, s in zip(pack.index.group, pack.index.split, strict=False):
        per_speaker.setdefault(str(g), set()).add(int(s))
    assert len(per_speaker) == 8 and all(len(s) == 1 for s in per_speaker.values())
    with pytest.raises(ConfigError, match="no column 'session'; use group:speaker"):
        prepare(tmp_path / "src", tmp_path / "pack2", split="group:session", progress=False)
