"""Label spreading on a toy set with planted wrong labels; the per-class report; the relabelled
pack; ``wavetag relabel``; every refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_semi_common import WRONG_UNVERIFIED, make_noisy_pack

from wavetag.cli import main
from wavetag.data import Pack
from wavetag.errors import ConfigError, DataError
from wavetag.semi.common import fit_temperature, noisy_label_posterior, parse_label_noise, temper
from wavetag.semi.embeddings import save_embeddings
from wavetag.semi.relabel import parse_groups, relabel, write_relabelled

BANDS = 20


def band_energies(pack: Pack) -> np.ndarray:
    """Log energy in 20 equal bands of each clip's spectrum: tones of different pitch fall apart."""
    spectra = np.stack([np.abs(np.fft.rfft(pack.waveform(i)))[:-1] for i in range(len(pack))])
    return np.log(spectra.reshape(len(pack), BANDS, -1).sum(-1) + 1e-6)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path, truth = make_noisy_pack(tmp_path_factory.mktemp("relabel"))
    pack = Pack.open(path)
    return pack, truth, band_energies(pack)


def test_spreading_fixes_the_planted_wrong_labels(toy):
    pack, truth, emb = toy
    result = relabel(pack, emb, kernel="knn", n_neighbors=5)
    wrong = pack.index.label != truth
    assert wrong.sum() == 3 * WRONG_UNVERIFIED
    assert (result.status[wrong] == "changed").all() and np.array_equal(result.label[wrong], truth[wrong])
    candidates = np.isin(result.status, ("confirmed", "changed", "uncertain"))
    assert np.mean(result.label[candidates] == truth[candidates]) == 1.0
    assert (result.status[pack.split_indices("test")] == "untouched").all()
    assert np.array_equal(
        result.label[~candidates], pack.index.label[~candidates]
    )  # seeds and other splits keep theirs


def test_given_labels_weigh_as_evidence():
    dist = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    given, classes = np.array([1, 1, -1]), np.array([0, 1, 2])
    post = noisy_label_posterior(dist, given, classes, 0.2)  # P(given | class): 0.8 for the given one, 0.1 each other
    np.testing.assert_allclose(post[0], np.array([0.06, 0.24, 0.01]) / 0.31)  # the given label now wins
    np.testing.assert_allclose(post[1], np.array([0.02, 0.56, 0.01]) / 0.59)
    np.testing.assert_allclose(post[2], dist[2])  # no given label: the spread distribution stands
    np.testing.assert_allclose(noisy_label_posterior(dist, given, classes, None), dist)
    assert parse_label_noise("auto") == "auto" and parse_label_noise("none") is None and parse_label_noise("0.3") == 0.3


def test_over_confident_distributions_are_tempered():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 400)
    guess = np.where(rng.random(400) < 0.6, truth, (truth + rng.integers(1, 3, 400)) % 3)  # right 60 % of the time
    dist = np.full((400, 3), 0.005)
    dist[np.arange(400), guess] = 0.99  # ... but 99 % sure
    t = fit_temperature(dist, truth)
    assert t > 2 and abs(temper(dist, t).max(1).mean() - 0.6) < 0.05  # tempered: about as sure as it is right
    nan_row = temper(np.array([[np.nan, np.nan, np.nan], [0.7, 0.2, 0.1]]), 2.0)
    assert np.isnan(nan_row[0]).all() and nan_row[1].sum() == pytest.approx(1.0)


def test_label_noise_is_estimated_near_the_planted_share(toy):
    pack, truth, emb = toy
    result = relabel(pack, emb)  # label_noise="auto"
    (note,) = [n for n in result.notes if "label noise estimated" in n]
    estimate = float(note.split("estimated at ")[1].split(" ")[0])
    assert abs(estimate - WRONG_UNVERIFIED / 10) <= 0.15, note  # 3 of every 10 unverified labels are wrong
    assert relabel(pack, emb, label_noise=0.0).counts()["changed"] == 0  # given labels taken as right: nothing moves


def test_per_class_report_adds_up(toy):
    pack, _, emb = toy
    result = relabel(pack, emb, kernel="rbf", gamma=5.0, min_confidence=0.9)
    rows = result.table()
    assert [r["label"] for r in rows] == pack.labels
    for r in rows:
        assert r["unverified"] == r["confirmed"] + r["changed"] + r["uncertain"]
    counts = result.counts()
    assert sum(r["unverified"] for r in rows) == counts["confirmed"] + counts["changed"] + counts["uncertain"] == 30
    assert sum(r["gained"] for r in rows) == sum(r["changed"] for r in rows) == counts["changed"]
    assert sum(r["verified"] for r in rows) == counts["verified"] == 18


def test_groups_keep_the_spreading_inside(toy):
    pack, truth, emb = toy
    groups = parse_groups("tonal=low,mid")
    assert groups == {"tonal": ["low", "mid"]}
    result = relabel(pack, emb, groups=groups)
    assert list(result.groups) == ["tonal", "(other classes)"]
    high, candidates = pack.labels.index("high"), result.status != "untouched"
    given_high = candidates & (pack.index.label == high)
    assert (result.label[given_high] == high).all()  # alone in its group: nothing can move it
    in_tonal = candidates & (pack.index.label != high)
    assert not (result.label[in_tonal] == high).any()  # and no tonal clip can become "high"


def test_relabelled_pack_and_report(toy, tmp_path):
    pack, truth, emb = toy
    result = relabel(pack, emb)
    written = write_relabelled(result, tmp_path / "relabelled", tsne_points=60)
    new = Pack.open(written.pack_dir)
    assert np.array_equal(new.index.label, result.label)
    trusted = np.isin(result.status, ("verified", "confirmed", "changed"))
    assert np.array_equal(new.index.verified[new.split_indices("train")], trusted[new.split_indices("train")])
    with np.load(written.pack_dir / "index.npz") as z:
        assert np.array_equal(z["given_label"], pack.index.label) and np.array_equal(
            z["manually_verified"], pack.index.verified
        )
        assert set(z["relabel_status"].tolist()) <= {"verified", "confirmed", "changed", "uncertain", "untouched"}
    assert new.info["relabel"]["counts"]["changed"] == result.counts()["changed"]
    report = json.loads(written.report_json.read_text())
    assert report["per_class"] == result.table()
    assert "| **all** |" in written.report_md.read_text() and written.tsne_png.stat().st_size > 10_000
    lines = written.clips_csv.read_text().splitlines()
    assert lines[0] == "index,path,given_label,new_label,status,confidence" and len(lines) == 1 + 48


def test_relabel_command(toy, tmp_path, capsys):
    pack, _, emb = toy
    path = save_embeddings(tmp_path / "e.npy", emb, pack=pack, model_dir="band energies")
    with pytest.raises(SystemExit) as done:
        main(
            [
                "relabel",
                str(pack.path),
                "--embeddings",
                str(path),
                "-o",
                str(tmp_path / "out"),
                "--tsne-points",
                "0",
                "--groups",
                "tonal=low,mid;bright=high",
            ]
        )
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "confirmed" in out and "changed" in out and "next: wavetag train" in out
    assert Pack.open(tmp_path / "out").info["relabel"]["groups"] == {"tonal": ["low", "mid"], "bright": ["high"]}


def test_class_without_verified_clips_is_refused(toy):
    pack, _, emb = toy
    high = pack.labels.index("high")
    unverify = pack.index.verified & (pack.index.label != high)
    with pytest.raises(DataError, match=r"class\(es\) 'high' \(\d+ unverified\).*Verify a few of their clips.*merge"):
        relabel(pack.with_labels(verified=unverify), emb)


def test_embeddings_of_another_size_are_refused(toy):
    pack, _, emb = toy
    with pytest.raises(DataError, match=rf"50 rows of embeddings but the pack .* has {len(pack)} clips"):
        relabel(pack, emb[:50])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 1.5}, r"alpha = 1.5 \(--alpha\); expected 0 < alpha < 1"),
        ({"gamma": 0.0}, r"gamma = 0.0 \(--gamma\); expected > 0"),
        ({"n_neighbors": 0}, r"n_neighbors = 0 \(--neighbors\); expected an integer >= 1"),
        ({"max_iter": 0}, r"max_iter = 0 \(--max-iter\)"),
        ({"min_confidence": 1.2}, r"min_confidence = 1.2 \(--min-confidence\); expected 0 <= min_confidence <= 1"),
        ({"kernel": "cosine"}, r"unknown kernel 'cosine'"),
        ({"label_noise": 1.0}, r"label_noise = 1.0 \(--label-noise\); expected 'auto', 'none' or a share in \[0, 1\)"),
        ({"groups": {"a": ["low", "mdi"]}}, r"unknown class in group 'a' 'mdi'; did you mean 'mid'"),
        ({"groups": {"a": ["low"], "b": ["low", "mid"]}}, r"class 'low' is in groups 'a' and 'b'"),
    ],
)
def test_parameters_out_of_range(toy, kwargs, message):
    pack, _, emb = toy
    with pytest.raises(ConfigError, match=message):
        relabel(pack, emb, **kwargs)


def test_groups_text_must_be_well_formed():
    with pytest.raises(ConfigError, match="expected NAME=label,label"):
        parse_groups("music guitar")
