"""Noisy labels with a known answer: relabelling, pseudo-labelling and ensembles against the baselines.

A 6-class tagging task is generated offline (tones, vibrato tones, chirps, noise bursts, click
trains, amplitude-modulated noise; random pitch, rate, level and onset, background noise at 0-15 dB
SNR, so neighbouring classes overlap) and written as an FSDKaggle2018-style CSV source
``fname,label,manually_verified,split``. In the train split 20 % of the clips are verified; of the
80 % unverified, a known share (default 30 %) carries a wrong label: with ``--noise confusable``
(the default) 70 % of the wrong labels name the class's look-alike (tone/vibrato, noise burst/AM
noise, ...), as annotators err, the rest another class at random; ``--noise uniform`` draws every
wrong label at random. Validation and test are verified and right. On that pack:

    (a) verified only          the verified train clips alone
    (b) all labels as given    every train clip with its label, right or wrong
    (c) relabelled             `wavetag embed` with (b), `wavetag relabel` (label spreading, given
                               labels weighed with an estimated noise rate), then train
    (d) semi-supervised        `train --semi`: 3 rounds of pseudo-labelling from the verified clips
    (e) relabel + semi         `relabel --min-confidence 0.9` (only the clear cases move), then
                               `train --semi` on that pack: its verified + relabelled clips are the
                               seeds, the uncertain ones are pseudo-labelled
    (c') relabelled again      the same, with another seed
    (g) waveform CNN           a small cnn1d on the raw waveform, trained on the relabelled pack
    (f) ensembles              `wavetag ensemble` of the models trained on cleaned labels, (c), (c'),
                               (e): --method weighted (weights searched on the validation split,
                               averaged over bootstrap resamples) and --method mean; and, weighted,
                               members whose errors should differ: other label views, (a), (b),
                               (c), and other families and front ends, (c), (g), (e)

Each is scored on the clean test split (accuracy and MAP@3, sliding windows as `evaluate`), with the
share of wrong labels among the training labels it used (known here, never in real data).
Targets, on test MAP@3 (the FSDKaggle2018 metric; accuracy is checked too): (e) beats (a) and
(b); each ensemble beats its best member (each ensemble's note gives its members' error overlap
on validation: 1 = the same mistakes). The oracle row (every train label right) shows the ceiling.
Not a test: the figures move a little with the seed, and the wall time with the load of the shared cores (printed).

    OMP_NUM_THREADS=1 .venv/bin/python bench/noisy_labels.py               # ~4-5 min on 2 shared cores
    OMP_NUM_THREADS=1 .venv/bin/python bench/noisy_labels.py --wrong 0.5 --keep runs/noisy
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavetag.config import config_from_dict  # noqa: E402
from wavetag.data import Pack, prepare  # noqa: E402
from wavetag.train import TrainConfig, train  # noqa: E402

SR = 8000
CLIP_S = 1.0
CLASSES = ("tone", "vibrato", "chirp", "noise_burst", "clicks", "am_noise")
LOOKALIKE = {
    "tone": "vibrato",
    "vibrato": "tone",
    "chirp": "vibrato",
    "noise_burst": "am_noise",
    "am_noise": "noise_burst",
    "clicks": "noise_burst",
}
LOOKALIKE_SHARE = 0.7  # --noise confusable: share of the wrong labels that name the look-alike
PER_CLASS = {"train": 100, "validation": 30, "test": 100}
VERIFIED_SHARE = 0.2
MIN_CLIP_PASSES = 4000  # every run sees at least this many clips (small training sets get more epochs)
BASE_EPOCHS = 20
FRONTEND = {"name": "logmel", "n_mels": 32, "win_s": 0.04, "hop_s": 0.02, "normalize": "dataset"}


# ---------------------------------------------------------------------------- the sounds


def _tone(rng, t, f0, vibrato_depth=0.0, rate=0.0):
    phase = 2 * np.pi * f0 * t
    if vibrato_depth:
        phase += vibrato_depth * f0 / rate * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    harmonics = rng.uniform(0.0, 0.5, 2)
    return np.sin(phase) + harmonics[0] * np.sin(2 * phase) + harmonics[1] * np.sin(3 * phase)


def _band_noise(rng, n, centre_hz, width_hz):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec *= np.exp(-0.5 * ((f - centre_hz) / width_hz) ** 2)
    x = np.fft.irfft(spec, n)
    return x / (np.abs(x).max() + 1e-9)


def _envelope(t, start, length, attack=0.02, release=0.05):
    rise = np.clip((t - start) / attack, 0, 1)
    fall = np.clip((start + length - t) / release, 0, 1)
    return rise * fall


def make_sound(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One second of ``kind`` at 8 kHz, float32 in [-1, 1], with background noise."""
    n = int(SR * CLIP_S)
    t = np.arange(n) / SR
    start, length = rng.uniform(0.0, 0.3), rng.uniform(0.5, 0.7)
    env = _envelope(t, start, length)
    if kind == "tone":
        x = _tone(rng, t, rng.uniform(300, 1800)) * env
    elif kind == "vibrato":
        x = _tone(rng, t, rng.uniform(300, 1800), vibrato_depth=rng.uniform(0.02, 0.08), rate=rng.uniform(3, 8)) * env
    elif kind == "chirp":
        f_a = rng.uniform(300, 1500)
        f_b = f_a * rng.uniform(1.3, 2.2) ** rng.choice([-1, 1])
        f = f_a + (f_b - f_a) * np.clip((t - start) / length, 0, 1)
        x = np.sin(2 * np.pi * np.cumsum(f) / SR) * env
    elif kind == "noise_burst":
        x = np.zeros(n)
        for _ in range(rng.integers(1, 4)):
            s, d = rng.uniform(0, 0.8), rng.uniform(0.05, 0.25)
            x += _band_noise(rng, n, rng.uniform(500, 3000), rng.uniform(150, 600)) * _envelope(t, s, d, 0.005, 0.03)
    elif kind == "clicks":
        rate, x = rng.uniform(8, 60), np.zeros(n)
        click = np.exp(-np.arange(int(0.004 * SR)) / (0.0008 * SR)) * np.sin(
            2 * np.pi * rng.uniform(1000, 3000) * np.arange(int(0.004 * SR)) / SR
        )
        for s in np.arange(start, start + length, 1 / rate):
            i = int(s * SR)
            x[i : i + len(click)] += click[: n - i]
    elif kind == "am_noise":
        x = _band_noise(rng, n, rng.uniform(500, 3000), rng.uniform(300, 1200))
        x *= 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 12) * t)) * env
    else:
        raise ValueError(kind)
    x = x / (np.sqrt(np.mean(x**2)) + 1e-9)
    snr_db = rng.uniform(0, 15)
    noise = rng.standard_normal(n) * 10 ** (-snr_db / 20)
    y = (x + noise) * 10 ** (rng.uniform(-26, -12) / 20)
    return np.clip(y, -1, 1).astype(np.float32)


def wrong_label(kind: str, rng: np.random.Generator, noise: str) -> str:
    """A label other than ``kind``: its look-alike (``noise="confusable"``, 70 %) or another at random."""
    if noise == "confusable" and rng.random() < LOOKALIKE_SHARE:
        return LOOKALIKE[kind]
    return str(rng.choice([c for c in CLASSES if c != kind]))


def build_source(root: Path, *, wrong: float, noise: str, seed: int) -> dict[str, str]:
    """Write the clips and ``train.csv``; returns the true label of each file."""
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows, truth = [], {}
    for split, count in PER_CLASS.items():
        for kind in CLASSES:
            for i in range(count):
                name = f"{split}_{kind}_{i:03d}.wav"
                sf.write(root / "audio" / name, make_sound(kind, rng), SR, subtype="PCM_16")
                truth[name] = kind
                verified = split != "train" or i < VERIFIED_SHARE * count
                label = kind
                if not verified and rng.random() < wrong:
                    label = wrong_label(kind, rng, noise)
                rows.append([name, label, int(verified), split])
    order = rng.permutation(len(rows))
    with open(root / "audio" / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([["fname", "label", "manually_verified", "split"], *[rows[k] for k in order]])
    return truth


# ---------------------------------------------------------------------------- runs


def config_for(n_clips: int, seed: int, quick: bool) -> TrainConfig:
    epochs = max(BASE_EPOCHS, math.ceil(MIN_CLIP_PASSES / max(1, n_clips)))
    if quick:
        epochs = max(2, epochs // 4)
    return config_from_dict(
        TrainConfig,
        {
            "model": "ds_cnn_s",
            "epochs": epochs,
            "batch_size": 32,
            "seed": seed,
            "threads": 1,
            "tensorboard": False,
            "tune_detection": False,
            "confusion_image": False,
            "clip_seconds": CLIP_S,
            "frontend": dict(FRONTEND),
            "augment": {"background_noise": {"p": 0.0}},
            "optimizer": {"lr": 3e-3},
        },
    )


def score(model_dir: Path, pack: Pack) -> dict[str, float]:
    from wavetag.evaluate import compute_metrics
    from wavetag.inference.windows import split_logits
    from wavetag.models import load_model_dir

    model, _ = load_model_dir(model_dir)
    idx = pack.split_indices("test")
    probs = model.probabilities(split_logits(model, pack, idx, clip_seconds=model.clip_seconds)).numpy()
    m = compute_metrics(probs, pack.targets(idx), task=model.task, labels=pack.labels)["overall"]
    return {"accuracy": m["accuracy"], "map_at_3": m["map_at_3"]}


def used_labels(truth: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> tuple[int, float]:
    """(training clips used, share of their labels that are wrong)."""
    return int(mask.sum()), float(np.mean(labels[mask] != truth[mask])) if mask.any() else float("nan")


def semi_labels(pack: Pack, semi_dir: Path, round_: int) -> tuple[np.ndarray, np.ndarray]:
    """The labels and the train-clip mask round ``round_`` of a `train_semi` run used."""
    from wavetag.semi.common import seeds_and_candidates

    seeds, _ = seeds_and_candidates(pack)
    labels, mask = pack.index.label.copy(), seeds.copy()
    pseudo = semi_dir / f"round_{round_}" / "pseudo_labels.csv"
    if round_ > 0 and pseudo.is_file():
        with open(pseudo, newline="") as f:
            for row in csv.DictReader(f):
                i = int(row["index"])
                labels[i], mask[i] = pack.labels.index(row["pseudo_label"]), True
    return labels, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrong", type=float, default=0.3, help="share of unverified train labels that are wrong")
    parser.add_argument(
        "--noise", choices=("confusable", "uniform"), default="confusable", help="how wrong labels are drawn"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="pseudo-labelling rounds (round 0 included)")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep everything in this folder (default: a temporary one)"
    )
    parser.add_argument("--quick", action="store_true", help="a quarter of the epochs (a smoke run, not the figures)")
    args = parser.parse_args()
    load_before, started = os.getloadavg(), time.perf_counter()
    root = args.keep or Path(tempfile.mkdtemp(prefix="wavetag-bench-noisy-"))
    try:
        rows = run(root, args)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report(rows, load_before, time.perf_counter() - started, args)


def run(root: Path, args) -> dict[str, dict]:
    from wavetag.models.io import read_config
    from wavetag.semi.embeddings import embed
    from wavetag.semi.ensemble import build_ensemble
    from wavetag.semi.pseudo import train_semi
    from wavetag.semi.relabel import relabel, write_relabelled

    truth_by_file = build_source(root / "src", wrong=args.wrong, noise=args.noise, seed=args.seed)
    prepare(
        root / "src" / "audio" / "train.csv", root / "pack", sample_rate=SR, clip_seconds=CLIP_S, jobs=2, progress=False
    )
    pack = Pack.open(root / "pack")
    truth = np.array([pack.labels.index(truth_by_file[p]) for p in pack.index.path], np.int32)
    train_mask = np.zeros(len(pack), bool)
    train_mask[pack.split_indices("train")] = True
    seeds = train_mask & pack.index.verified
    n_train, seed = int(train_mask.sum()), args.seed
    quiet = {"progress": False, "verbose": False}
    rows: dict[str, dict] = {}

    # (a) verified only: the train split without its unverified clips
    run_a = train(
        pack.with_labels(include=~train_mask | seeds),
        config_for(int(seeds.sum()), seed, args.quick),
        root / "verified",
        **quiet,
    )
    rows["verified only"] = {"dir": run_a.best_dir, "used": used_labels(truth, pack.index.label, seeds)}
    # (b) all labels as given
    run_b = train(pack, config_for(n_train, seed, args.quick), root / "given", **quiet)
    rows["all labels as given"] = {"dir": run_b.best_dir, "used": used_labels(truth, pack.index.label, train_mask)}
    # the ceiling: every train label right (impossible in practice; here the answer is known)
    run_o = train(pack.with_labels(truth), config_for(n_train, seed, args.quick), root / "oracle", **quiet)
    rows["all labels right (oracle)"] = {
        "dir": run_o.best_dir,
        "used": used_labels(truth, truth, train_mask),
        "note": "reference: the ceiling of this task",
    }
    # (c) relabelled: label spreading on the embeddings of (b), the given labels weighed as evidence
    emb = embed(run_b.best_dir, pack)
    result = relabel(pack, emb, min_confidence=0.5)
    relabelled = Pack.open(write_relabelled(result, root / "relabelled", tsne_points=0).pack_dir)
    run_c = train(relabelled, config_for(n_train, seed + 1, args.quick), root / "relabelled_run", **quiet)
    c = result.counts()
    rows["relabelled"] = {
        "dir": run_c.best_dir,
        "used": used_labels(truth, relabelled.index.label, train_mask),
        "note": f"{c['confirmed']} confirmed, {c['changed']} changed, {c['uncertain']} uncertain; "
        + "; ".join(result.notes),
    }
    # (d) semi-supervised from the verified clips
    semi = train_semi(pack, config_for(n_train, seed + 2, args.quick), root / "semi", rounds=args.rounds, **quiet)
    rows["semi-supervised"] = {
        "dir": semi.best_dir,
        "used": used_labels(truth, *semi_labels(pack, root / "semi", semi.best_round)),
        "note": _semi_note(semi),
    }
    # (e) relabel (clear cases only) + semi-supervised (the rest)
    strict = relabel(pack, emb, min_confidence=0.9)
    strict_pack = Pack.open(write_relabelled(strict, root / "relabelled_strict", tsne_points=0).pack_dir)
    both = train_semi(
        strict_pack, config_for(n_train, seed + 3, args.quick), root / "relabel_semi", rounds=args.rounds, **quiet
    )
    c = strict.counts()
    rows["relabel + semi-supervised"] = {
        "dir": both.best_dir,
        "used": used_labels(truth, *semi_labels(strict_pack, root / "relabel_semi", both.best_round)),
        "note": f"{c['uncertain']} uncertain left to pseudo-labelling; {_semi_note(both)}",
    }
    # (c') the relabelled pack again with another seed: a third member for the ensemble
    run_c2 = train(relabelled, config_for(n_train, seed + 4, args.quick), root / "relabelled_seed", **quiet)
    rows["relabelled, another seed"] = {
        "dir": run_c2.best_dir,
        "used": rows["relabelled"]["used"],
        "note": "(c'): for the ensemble",
    }
    # (g) another family on another front end: a small 1-D CNN on the raw waveform, relabelled pack
    run_g = train(
        relabelled, waveform_config(config_for(n_train, seed + 5, args.quick)), root / "waveform_relabelled", **quiet
    )
    rows["waveform CNN, relabelled"] = {
        "dir": run_g.best_dir,
        "used": rows["relabelled"]["used"],
        "note": "(g): cnn1d on the waveform, for the ensembles",
    }
    # (f) ensembles: the same family on the same cleaned labels, (c) (c') (e), as before; then members
    # whose errors should differ: other label views (a) (b) (c), and other families (c) (g) (e)
    ensembles = {
        "ensemble (weighted)": (
            ["relabelled", "relabelled, another seed", "relabel + semi-supervised"],
            "weighted",
            "(c), (c'), (e)",
        ),
        "ensemble (mean)": (
            ["relabelled", "relabelled, another seed", "relabel + semi-supervised"],
            "mean",
            "(c), (c'), (e)",
        ),
        "ensemble, label views": (["verified only", "all labels as given", "relabelled"], "weighted", "(a), (b), (c)"),
        "ensemble, families": (
            ["relabelled", "waveform CNN, relabelled", "relabel + semi-supervised"],
            "weighted",
            "(c), (g), (e)",
        ),
    }
    for name, (members, method, which) in ensembles.items():
        ens = build_ensemble(
            [rows[m]["dir"] for m in members], root / name.replace(" ", "_").replace(",", ""), method=method, pack=pack
        )
        info = read_config(ens)["ensemble"]
        overlap = info["validation"]["diversity"]["error_overlap"]
        rows[name] = {
            "dir": ens,
            "used": (None, None),
            "members": members,
            "note": f"{method} of {which}; weights "
            + ", ".join(f"{w:.2f}" for w in info["weights"])
            + f"; validation error overlap {overlap if overlap is None else f'{overlap:.2f}'}",
        }
    for row in rows.values():
        row.update(score(row["dir"], pack))
    return rows


def waveform_config(config: TrainConfig) -> TrainConfig:
    """``config`` with a small 1-D CNN on the raw waveform (RMS-normalised) instead of ds_cnn_s on log-mels."""
    import dataclasses

    return dataclasses.replace(
        config,
        model="cnn1d",
        frontend={"name": "waveform", "normalize": "rms"},
        model_args={"stages": [[16], [32], [64], [64]], "dense_dim": 64, "dropout": 0.2},
    )


def _semi_note(result) -> str:
    row = result.rounds[result.best_round]
    noise = "" if row.get("label_noise") is None else f", label noise {row['label_noise']:.2f}"
    return f"best round {result.best_round} of 0..{len(result.rounds) - 1}{noise}"


def report(rows: dict[str, dict], load_before, seconds: float, args) -> None:
    print(
        f"noisy-label benchmark: {len(CLASSES)} classes, train {PER_CLASS['train'] * len(CLASSES)} clips "
        f"({VERIFIED_SHARE:.0%} verified; {args.wrong:.0%} of the unverified labels wrong, {args.noise}), "
        f"validation {PER_CLASS['validation'] * len(CLASSES)}, test {PER_CLASS['test'] * len(CLASSES)} (clean); "
        f"ds_cnn_s on 32 log-mels, 8 kHz, 1 s; seed {args.seed}" + (" [--quick: not the figures]" if args.quick else "")
    )
    print()
    print(f"| {'setting':<28} | clips used | wrong labels used | test accuracy | test MAP@3 | note")
    print(f"|{'-' * 30}|-----------:|------------------:|--------------:|-----------:|------")
    for name, r in rows.items():
        used, wrong = r["used"]
        used_s = "-" if used is None else str(used)
        wrong_s = "-" if wrong is None else f"{100 * wrong:.1f} %"
        print(
            f"| {name:<28} | {used_s:>10} | {wrong_s:>17} | {r['accuracy']:>13.3f} | {r['map_at_3']:>10.3f} | "
            f"{r.get('note', '')}"
        )
    print()
    for metric in ("map_at_3", "accuracy"):
        value = {k: v[metric] for k, v in rows.items()}
        checks = [
            ("relabel + semi-supervised > verified only", value["relabel + semi-supervised"] > value["verified only"]),
            (
                "relabel + semi-supervised > all labels as given",
                value["relabel + semi-supervised"] > value["all labels as given"],
            ),
            ("relabelled > all labels as given", value["relabelled"] > value["all labels as given"]),
            ("semi-supervised > verified only", value["semi-supervised"] > value["verified only"]),
        ]
        for name, row in rows.items():
            if "members" in row:
                best_member = max(value[m] for m in row["members"])
                checks.append((f"{name} > its best member ({best_member:.3f})", value[name] > best_member))
        label = "target (MAP@3, the FSDKaggle2018 metric)" if metric == "map_at_3" else "also on accuracy"
        for name, ok in checks:
            print(f"{label}: {name:<56} {'PASS' if ok else 'MISS'}")
    after = os.getloadavg()
    print(
        f"wall time {seconds:.0f} s on {os.cpu_count()} cores; load average (1/5/15 min) before "
        f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
        f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}"
    )


if __name__ == "__main__":
    main()
