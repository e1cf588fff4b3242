"""Listing a source never crashes: what a real folder holds besides good clips.

Broken links, link loops, unreadable folders, FIFOs, a folder named ``x.wav``, odd names
(spaces, newlines, non-UTF-8 bytes) and files that vanish between listing and decoding each
become a row of ``rejected.csv`` (or a skipped entry of ``predict``); every good clip is kept.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import wavetag.cli.explore
import wavetag.cli.predict  # noqa: F401
from wavetag import audio
from wavetag.cli.app import app
from wavetag.data import prepare
from wavetag.data.clips import SourceOptions, walk_audio
from wavetag.data.sources import get_source
from wavetag.errors import AudioError
from wavetag.inference.inputs import expand_inputs

SR = 8000
GOOD = {"yes": ["a.wav", "with space.wav", "new\nline.wav"], "no": ["b.wav", "c.flac"]}


def write_clip(path: Path | bytes, seed: int) -> None:
    x = 0.3 * np.sin(2 * np.pi * (300 + 100 * seed) * np.arange(SR // 2) / SR)
    fmt = "FLAC" if os.fsdecode(path).endswith(".flac") else "WAV"
    with open(path, "wb") as f:  # a file object: soundfile cannot encode a non-UTF-8 name itself
        sf.write(f, x.astype(np.float32), SR, format=fmt, subtype="PCM_16")


def nasty_tree(root: Path) -> dict[str, str]:
    """Good clips plus one of every listing hazard; returns {rel path: expected reason}."""
    for i, (label, names) in enumerate(GOOD.items()):
        (root / label).mkdir(parents=True)
        for j, name in enumerate(names):
            write_clip(root / label / name, 3 * i + j)
    os.symlink("missing.wav", root / "yes" / "broken.wav")
    os.symlink("self.wav", root / "yes" / "self.wav")
    os.symlink("..", root / "yes" / "up")  # a loop through the root
    os.symlink(".", root / "no" / "here")  # a loop to itself
    (root / "no" / "folder.wav").mkdir()
    os.mkfifo(root / "no" / "fifo.wav")  # opening it for reading would block forever
    write_clip(os.fsencode(root / "no") + b"/caf\xe9.wav", 9)
    return {
        "yes/broken.wav": "broken link",
        "yes/self.wav": "link loop",
        "yes/up/": "link loop",
        "no/here/": "link loop",
        "no/folder.wav": "not a file",
        "no/fifo.wav": "not a file",
        "no/caf\\xe9.wav": "bad file name",
    }


def read_rejected(pack: Path) -> dict[str, str]:
    with open(pack / "rejected.csv", newline="", encoding="utf-8") as f:
        return {row["path"]: row["reason"] for row in csv.DictReader(f)}


def test_walk_reports_every_hazard_and_keeps_every_good_clip(tmp_path):
    expected = nasty_tree(tmp_path / "src")
    rejected: list = []
    found = [rel for _, rel, _, _ in walk_audio(tmp_path / "src", tmp_path / "src", rejected=rejected)]
    assert sorted(found) == sorted(f"{label}/{name}" for label, names in GOOD.items() for name in names)
    assert {r.path: r.reason for r in rejected} == expected
    assert all(r.path.split("/")[0].rstrip("/") in r.detail for r in rejected)  # each message names its file


def test_prepare_finishes_with_every_hazard_in_rejected_csv(tmp_path):
    expected = nasty_tree(tmp_path / "src")
    summary = prepare(tmp_path / "src", tmp_path / "pack", sample_rate=SR, jobs=1, progress=False)
    assert summary.num_clips == sum(len(v) for v in GOOD.values())  # no good clip lost
    assert read_rejected(tmp_path / "pack") == expected
    index = (tmp_path / "pack" / "index.csv").read_text(encoding="utf-8")
    assert "new\nline.wav" in index and "with space.wav" in index


def test_class_folder_linked_to_its_root_is_a_loop_not_a_class(tmp_path):
    nasty_tree(tmp_path / "src")
    os.symlink(tmp_path / "src", tmp_path / "src" / "again")
    summary = prepare(tmp_path / "src", tmp_path / "pack", sample_rate=SR, jobs=1, progress=False)
    assert summary.labels == ["no", "yes"]
    assert read_rejected(tmp_path / "pack")["again/"] == "link loop"


def test_unlistable_folder_is_rejected_and_the_rest_kept(tmp_path, monkeypatch):
    nasty_tree(tmp_path / "src")
    locked = tmp_path / "src" / "yes" / "locked"
    locked.mkdir()
    write_clip(locked / "d.wav", 7)
    real_scandir = os.scandir

    def scandir(path="."):  # root may read anything: refuse this one folder as chmod 000 would
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = get_source("folder")(tmp_path / "src", SourceOptions())
    reasons = {r.path: (r.reason, r.detail) for r in listing.rejected}
    assert reasons["yes/locked/"][0] == "unreadable folder"
    assert "Permission denied" in reasons["yes/locked/"][1]
    assert len(listing.refs) == sum(len(v) for v in GOOD.values())


def _prepare_as_nobody(src: Path, out: Path, queue) -> None:
    """In a forked child: drop root (which reads any file) to nobody, prepare, report the outcome."""
    try:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        summary = prepare(src, out, sample_rate=SR, jobs=1, progress=False)
        with open(out / "rejected.csv", newline="", encoding="utf-8") as f:
            queue.put((summary.num_clips, {row["path"]: (row["reason"], row["detail"]) for row in csv.DictReader(f)}))
    except BaseException as exc:  # noqa: BLE001 - hand anything back to the test
        queue.put(("crash", repr(exc)))


def test_unreadable_file_and_folder_are_rejected():
    base = Path(tempfile.mkdtemp(prefix="wavetag-unreadable-"))  # not under the 0700 pytest folder
    try:
        base.chmod(0o777)
        nasty_tree(base / "src")
        prepare(base / "src", base / "warm", sample_rate=SR, jobs=1, progress=False)  # import what prepare needs
        write_clip(base / "src" / "yes" / "secret.wav", 8)
        (base / "src" / "yes" / "secret.wav").chmod(0)
        (base / "src" / "no" / "locked").mkdir()
        write_clip(base / "src" / "no" / "locked" / "x.wav", 3)
        (base / "src" / "no" / "locked").chmod(0)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_prepare_as_nobody, args=(base / "src", base / "pack", queue))
        child.start()
        clips, rejected = queue.get(timeout=120)
        child.join(timeout=30)
        assert clips == sum(len(v) for v in GOOD.values()), rejected  # no good clip lost
        assert rejected["yes/secret.wav"][0] == "unreadable" and "ermission denied" in rejected["yes/secret.wav"][1]
        assert rejected["no/locked/"][0] == "unreadable folder" and "chmod" in rejected["no/locked/"][1]
    finally:
        for path in (base / "src" / "no" / "locked", base / "src" / "yes" / "secret.wav"):
            if path.exists():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_file_vanishing_between_listing_and_decoding_is_rejected(tmp_path, monkeypatch):
    from wavetag.data import prepare_pack

    nasty_tree(tmp_path / "src")
    real = prepare_pack.get_source

    def listing_then_delete(kind):
        def read(root, opts):
            listing = real(kind)(root, opts)
            (root / "yes" / "a.wav").unlink()
            return listing

        return read

    monkeypatch.setattr(prepare_pack, "get_source", listing_then_delete)
    summary = prepare(tmp_path / "src", tmp_path / "pack", sample_rate=SR, jobs=1, progress=False)
    assert read_rejected(tmp_path / "pack")["yes/a.wav"] == "unreadable"
    assert summary.num_clips == sum(len(v) for v in GOOD.values()) - 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: os.symlink("nowhere.wav", p), "symbolic link to a missing file"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty"),
    ],
)
def test_load_refuses_non_files_without_blocking(tmp_path, make, message):
    path = tmp_path / "x.wav"
    make(path)
    with pytest.raises(AudioError, match=message):
        audio.load(path)


def test_load_opens_a_non_utf8_name(tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9.wav"
    write_clip(name, 1)
    x, rate = audio.load(os.fsdecode(name))
    assert rate == SR and x.shape == (SR // 2,)


def test_expand_inputs_skips_hazards_with_reasons(tmp_path):
    expected = nasty_tree(tmp_path / "src")
    skipped: list = []
    files = expand_inputs([tmp_path / "src"], skipped=skipped)
    assert len(files) == sum(len(v) for v in GOOD.values())
    assert {
        str(Path(r.path).relative_to(tmp_path / "src")) + ("/" if r.path.endswith("/") else ""): r.reason
        for r in skipped
    }.keys() <= {k.rstrip("/") for k in expected} | set(expected)
    assert len(skipped) == len(expected)


@pytest.mark.slow
def test_predict_and_explore_over_a_nasty_folder_finish(tmp_path, tmp_path_factory):
    from test_serve import build_tone_model

    model = build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model")
    expected = nasty_tree(tmp_path / "src")
    result = CliRunner().invoke(app, ["predict", str(model), str(tmp_path / "src"), "--format", "csv", "--no-progress"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # 1: entries were skipped
    rows = list(csv.DictReader(result.stdout.splitlines(keepends=True)))
    assert len(rows) == sum(len(v) for v in GOOD.values()) and all(not r["error"] for r in rows)
    assert f"{len(expected)} entries skipped" in result.stderr
    report = CliRunner().invoke(
        app, ["explore", str(tmp_path / "src"), "-o", str(tmp_path / "report"), "--no-progress"]
    )
    assert report.exit_code == 0, report.output
    assert read_rejected(tmp_path / "report" / "pack") == expected


def test_csv_rows_naming_hazards_are_rejected_with_their_row(tmp_path):
    nasty_tree(tmp_path / "src")
    rows = ["yes/a.wav", "yes/broken.wav", "no/fifo.wav", "no/folder.wav", "yes/nowhere.wav", "no/b.wav"]
    (tmp_path / "src" / "labels.csv").write_text("fname,label\n" + "".join(f"{r},{r.split('/')[0]}\n" for r in rows))
    summary = prepare(tmp_path / "src" / "labels.csv", tmp_path / "pack", sample_rate=SR, jobs=1, progress=False)
    rejected = read_rejected(tmp_path / "pack")
    assert summary.num_clips == 2
    assert rejected["yes/broken.wav"] == rejected["yes/nowhere.wav"] == "missing file"
    assert rejected["no/fifo.wav"] == rejected["no/folder.wav"] == "unreadable"  # refused by the decoder, never opened


def test_speech_commands_listing_reports_hazards(tmp_path):
    root = tmp_path / "sc"
    for word in ("yes", "no"):
        (root / word).mkdir(parents=True)
        for i in range(3):
            write_clip(root / word / f"spk{i}_nohash_0.wav", i)
    (root / "_background_noise_").mkdir()
    write_clip(root / "_background_noise_" / "noise.wav", 5)
    os.symlink("gone.wav", root / "yes" / "spk9_nohash_0.wav")
    os.symlink("..", root / "no" / "up")
    os.symlink("gone.wav", root / "_background_noise_" / "hum.wav")
    listing = get_source("speech-commands")(root, SourceOptions(words="all"))
    assert len(listing.refs) == 6 and len(listing.noise_files) == 1
    assert {r.path: r.reason for r in listing.rejected} == {
        "yes/spk9_nohash_0.wav": "broken link",
        "no/up/": "link loop",
        "hum.wav": "broken link",
    }


def test_a_file_that_kills_its_decoder_is_rejected_alone(tmp_path, monkeypatch):
    from wavetag.data import decode

    for label in ("yes", "no"):
        (tmp_path / "src" / label).mkdir(parents=True)
        for i in range(40):
            write_clip(tmp_path / "src" / label / f"{i:02d}.wav", i % 7)
    write_clip(tmp_path / "src" / "no" / "13-poison.wav", 1)
    real = decode.decode_file

    def decode_file(ref, opts):  # forked workers inherit the patch; the poison kills its process
        if ref.rel_path.endswith("poison.wav"):
            os.kill(os.getpid(), 9)
        return real(ref, opts)

    monkeypatch.setattr(decode, "decode_file", decode_file)
    summary = prepare(tmp_path / "src", tmp_path / "pack", sample_rate=SR, jobs=2, progress=False)
    assert summary.num_clips == 80  # every other clip kept
    assert read_rejected(tmp_path / "pack") == {"no/13-poison.wav": "decoder crashed"}
    with open(tmp_path / "pack" / "index.csv", newline="") as f:
        kept = [row["path"] for row in csv.DictReader(f)]
    assert sorted(kept) == sorted(f"{label}/{i:02d}.wav" for label in ("yes", "no") for i in range(40))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(
                ["dir", "clip", "text", "link_dir", "link_missing", "link_self", "link_clip", "fifo", "dir_wav"]
            ),
            st.integers(0, 10),
            st.integers(0, 10),
        ),
        max_size=30,
    )
)
def test_walk_terminates_on_random_trees_and_finds_every_real_clip(tmp_path_factory, ops):
    """Random folders, clips and links (to folders above, beside and below, to nothing, to
    themselves): the walk ends, finds every real clip, and yields only regular files."""
    root = tmp_path_factory.mktemp("tree")
    dirs, clips = [root], set()
    for n, (kind, a, b) in enumerate(ops):
        parent, other = dirs[a % len(dirs)], dirs[b % len(dirs)]
        suffix = ".wav" if kind in ("clip", "link_missing", "link_self", "link_clip", "fifo", "dir_wav") else ""
        path = parent / f"{kind}{n}{suffix}"
        if kind == "dir":
            path.mkdir()
            dirs.append(path)
        elif kind == "clip":
            path.write_bytes(b"RIFF")  # listing never decodes
            clips.add(path.relative_to(root).as_posix())
        elif kind == "text":
            path.with_suffix(".txt").write_text("notes")
        elif kind == "link_dir":
            os.symlink(other, path)
        elif kind == "link_missing":
            os.symlink(parent / "missing.wav", path)
        elif kind == "link_self":
            os.symlink(path.name, path)
        elif kind == "link_clip":
            os.symlink(other / "anything.wav", path)
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            path.mkdir()
    rejected: list = []
    found = {rel: path for path, rel, _, _ in walk_audio(root, root, rejected=rejected)}
    assert clips <= set(found)
    assert all(path.is_file() for path in found.values())
    assert all(r.reason and r.detail for r in rejected)
