"""Label spreading: carry the verified labels to the unverified clips through an embedding graph.

    embeddings [N, D] (``wavetag embed``) --standardise each dimension, L2-normalise each clip-->
      per group of classes (all classes when no groups are given):
        seeds = verified train clips of the group's classes, candidates = their unverified train clips
        --scikit-learn LabelSpreading (knn or rbf graph; Zhou et al. 2004, "Learning with local and
          global consistency")--> a class distribution per candidate
      --the given label as noisy evidence: posterior ∝ spread × P(given | class), where the given
        label is right with probability 1 - label_noise ("auto": estimated, see below)-->
      --> per candidate: confirmed (the given label wins with probability >= min_confidence),
          changed (another label does), uncertain (no label reaches min_confidence)

Spreading alone ignores what the unverified labels say, and they are mostly right (FSDKaggle2018:
about two thirds): from a few verified seeds it would overturn many right labels. So the given
label counts as evidence with an error rate ``label_noise``, and the spread distributions are
first calibrated: each fold of the verified seeds (5) is hidden in turn and labelled by the
others, which measures the spreading's accuracy ``a`` and fits a temperature ``T`` (spread
distributions are over-confident; ``p ** (1/T)`` renormalised is not). ``"auto"`` estimates the
noise per group from ``a`` and the agreement ``A`` of the spreading with the given labels of the
candidates: with errors independent and spread over the other ``K - 1`` classes,
``A = a (1 - e) + (1 - a) e / (K - 1)``, so ``e = (a - A) / (a - (1 - a) / (K - 1))``.
``label_noise=None`` is plain spreading (no calibration, given labels ignored).

Only the train split is touched, and only train-split verified clips are seeds: labels of the
validation and test splits never leak into training labels. Groups (``{"music": ["guitar",
"piano"], ...}``) keep the spreading inside classes that can be confused for each other; a
candidate stays in the group of its given label, and classes in no group form one more group.

`write_relabelled` writes the result as a pack of its own (samples hard-linked): confirmed and
changed clips carry their new label and count as verified there (so ``wavetag train --semi`` starts
from them), uncertain clips keep the label they came with and stay unverified. ``index.npz`` also
keeps ``given_label``, ``manually_verified``, ``relabel_status`` and ``relabel_confidence``, and a
``relabel/`` folder inside the pack holds report.md/json, relabel.csv and the t-SNE picture.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavetag.config import check_choice
from wavetag.data.pack import Pack
from wavetag.errors import ConfigError
from wavetag.registry import unknown_name_message
from wavetag.semi.common import (
    check_label_noise,
    check_seed_classes,
    check_single_label,
    estimate_label_noise,
    fit_temperature,
    noisy_label_posterior,
    seeds_and_candidates,
    temper,
    warn_label_noise,
)
from wavetag.semi.embeddings import check_embeddings_fit, load_embeddings
from wavetag.semi.pack_copy import write_pack_copy
from wavetag.semi.plots import plot_relabel_tsne

KERNELS = ("knn", "rbf")
NOISE_FOLDS = 5  # folds of the verified seeds that measure (and calibrate) the spreading
STATUSES = ("verified", "confirmed", "changed", "uncertain", "untouched")
REST_GROUP = "(other classes)"
REPORT_DIR = "relabel"


@dataclass
class RelabelResult:
    """Labels after spreading, for every clip of the pack (arrays ``[N]``).

    ``status``: "verified" (a seed), "confirmed" / "changed" / "uncertain" (a candidate), or
    "untouched" (another split). ``label`` is the new label of confirmed and changed clips and the
    given one elsewhere; ``confidence`` the winning probability of candidates (NaN elsewhere).
    """

    pack: Pack
    given: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    status: np.ndarray
    params: dict[str, Any]
    groups: dict[str, list[str]]
    features: np.ndarray  # the normalised embeddings [N, D] the graph was built on
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: int((self.status == s).sum()) for s in STATUSES}

    def table(self) -> list[dict[str, Any]]:
        """One row per class (by given label): verified, unverified = confirmed + changed + uncertain, gained."""
        rows = []
        for c, name in enumerate(self.pack.labels):
            mine = self.given == c
            row = {"label": name, "verified": int((mine & (self.status == "verified")).sum())}
            for s in ("confirmed", "changed", "uncertain"):
                row[s] = int((mine & (self.status == s)).sum())
            row["unverified"] = row["confirmed"] + row["changed"] + row["uncertain"]
            row["gained"] = int(((self.label == c) & (self.status == "changed")).sum())
            rows.append(row)
        return rows

    def trusted(self) -> np.ndarray:
        """Verified clips and confidently relabelled ones (bool ``[N]``)."""
        return np.isin(self.status, ("verified", "confirmed", "changed")) | self.pack.index.verified.astype(bool)

    def view(self) -> Pack:
        """The pack with the new labels; confirmed and changed clips count as verified."""
        return self.pack.with_labels(self.label, verified=self.trusted())

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": str(self.pack.path),
            "params": self.params,
            "groups": self.groups,
            "counts": self.counts(),
            "per_class": self.table(),
            "notes": self.notes,
        }


def parse_groups(text: str | None) -> dict[str, list[str]] | None:
    """``"music=guitar,piano;other=dog,cat"`` → ``{"music": ["guitar", "piano"], "other": ["dog", "cat"]}``."""
    if not text:
        return None
    groups: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, members = part.partition("=")
        labels = [x.strip() for x in members.split(",") if x.strip()]
        if not sep or not name.strip() or not labels:
            raise ConfigError(
                f"--groups {part!r}; expected NAME=label,label;NAME=label,... (e.g. music=guitar,piano;other=dog)"
            )
        groups[name.strip()] = labels
    return groups


def relabel(
    pack: str | Path | Pack,
    embeddings: np.ndarray | str | Path,
    *,
    kernel: str = "knn",
    gamma: float = 20.0,
    n_neighbors: int = 7,
    alpha: float = 0.2,
    max_iter: int = 30,
    groups: Mapping[str, Sequence[str]] | None = None,
    min_confidence: float = 0.5,
    label_noise: float | str | None = "auto",
    seed: int = 0,
) -> RelabelResult:
    """Spread the verified labels of the train split to its unverified clips (see the module docstring).

    ``embeddings``: ``[N, D]`` (one row per clip of the pack) or an ``.npy`` file from ``wavetag embed``.
    ``kernel``: "knn" (``n_neighbors`` nearest clips) or "rbf" (``exp(-gamma |x - y|²)`` on the
    normalised embeddings, whose squared distances lie in [0, 4]); ``alpha`` in (0, 1): how much of
    its label a seed may give up; ``max_iter``: spreading iterations; ``min_confidence``: the
    probability a label needs to replace the given one; ``label_noise``: the share of wrong
    unverified labels the posterior assumes (a number in [0, 1), ``"auto"`` = estimated, ``None`` =
    the given labels are ignored); ``seed``: the folds of the estimate.
    """
    pack = pack if isinstance(pack, Pack) else Pack.open(pack)
    check_single_label(pack, "label spreading")
    params = _check_params(
        kernel=kernel,
        gamma=gamma,
        n_neighbors=n_neighbors,
        alpha=alpha,
        max_iter=max_iter,
        min_confidence=min_confidence,
        label_noise=label_noise,
    )
    if isinstance(embeddings, (str, Path)):
        embeddings = load_embeddings(embeddings, pack)
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ConfigError(f"embeddings of shape {emb.shape}; expected [clips, dims]")
    check_embeddings_fit(emb, pack)
    seeds, candidates = seeds_and_candidates(pack, "train")
    check_seed_classes(pack, seeds, candidates)
    group_of = _group_ids(pack.labels, groups)
    given = pack.index.label.astype(np.int32).copy()
    label, confidence = given.copy(), np.full(len(pack), np.nan, np.float32)
    status = np.where(seeds, "verified", np.where(candidates, "uncertain", "untouched")).astype("<U10")
    features = normalise(emb, seeds | candidates)
    notes: list[str] = []
    for g, group_name in enumerate(group_of["names"]):
        scope = seeds | candidates
        if groups is not None:  # a clip goes with the group of its given label (unlabelled clips: none)
            scope = scope & np.isin(given, np.flatnonzero(group_of["ids"] == g))
        rows = np.flatnonzero(scope & candidates)
        if len(rows) == 0:
            continue
        y = np.where(seeds[scope], given[scope], -1)
        new, conf, how = _spread_group(features[scope], y, candidates[scope], given[rows], params, notes, seed=seed)
        if how:
            notes.append(f"group {group_name!r}: {how}" if len(group_of["names"]) > 1 else how)
        confidence[rows] = conf
        sure = conf >= params["min_confidence"]
        label[rows[sure]] = new[sure]
        status[rows[sure]] = np.where(new[sure] == given[rows[sure]], "confirmed", "changed")
    if groups is not None and (candidates & (given < 0)).any():
        notes.append(
            f"{int((candidates & (given < 0)).sum())} unlabelled clips belong to no group and were left uncertain"
        )
    return RelabelResult(
        pack, given, label, confidence, status, params, group_of["mapping"], features.astype(np.float32), notes
    )


def _spread_group(
    x: np.ndarray,
    y: np.ndarray,
    is_candidate: np.ndarray,
    given: np.ndarray,
    params: dict[str, Any],
    notes: list[str],
    *,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """One group: its clips ``x [n, D]``, seed labels ``y [n]`` (-1 = candidate) → each candidate's
    best label and its probability (the given label weighed in), and a sentence on the calibration."""
    dist, classes = spread(x, y, params, notes)
    dist = dist[is_candidate]
    noise, how = params["label_noise"], None
    if noise is not None and len(classes) > 1:
        accuracy, temperature = held_out_spreading(x, y, classes, params, seed=seed)
        dist = temper(dist, temperature)
        how = f"spreading accuracy on held-out verified clips {accuracy:.2f} (temperature {temperature:.2f})"
        labelled = given >= 0
        agree = (
            float(np.mean(classes[np.nan_to_num(dist[labelled], nan=0.0).argmax(1)] == given[labelled]))
            if labelled.any()
            else 1.0
        )
        seeds = y[y >= 0]
        estimate = estimate_label_noise(
            accuracy,
            agree,
            len(classes),
            num_verified=len(seeds),
            majority_share=float(np.bincount(seeds).max() / len(seeds)),
        )
        warn_label_noise(estimate, "label spreading (held-out verified clips)", notes, noise)
        if noise == "auto":
            noise = estimate.noise
            how += f"; label noise estimated at {noise:.2f} (agreement with the given labels {agree:.2f})"
    post = np.nan_to_num(noisy_label_posterior(dist, given, classes, noise), nan=0.0)  # unreachable clips: 0
    best = post.argmax(1)
    return classes[best].astype(np.int32), post[np.arange(len(post)), best].astype(np.float32), how


def spread(x: np.ndarray, y: np.ndarray, params: dict[str, Any], notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """LabelSpreading on ``x [n, D]`` with ``y [n]`` (class id, -1 = to label) → (distributions
    ``[n, k]``, the k class ids of the columns)."""
    classes = np.unique(y[y >= 0])
    if len(classes) == 1:
        return np.ones((len(y), 1)), classes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.semi_supervised import LabelSpreading

    model = LabelSpreading(
        kernel=params["kernel"],
        gamma=params["gamma"],
        n_neighbors=min(params["n_neighbors"], len(y) - 1),
        alpha=params["alpha"],
        max_iter=params["max_iter"],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append(f"label spreading stopped at max_iter = {params['max_iter']} before converging; raise --max-iter")
    return model.label_distributions_, model.classes_


def held_out_spreading(
    x: np.ndarray, y: np.ndarray, classes: np.ndarray, params: dict[str, Any], *, seed: int = 0
) -> tuple[float, float]:
    """How good the spreading is: each fold of the verified seeds (5) is hidden in turn and labelled
    by the others. Returns the accuracy on them and the temperature that calibrates the spread
    distributions (label spreading is over-confident: its distributions are not probabilities)."""
    seed_rows = np.flatnonzero(y >= 0)
    fold = np.random.default_rng(seed).permutation(len(seed_rows)) % NOISE_FOLDS
    dists, truths = [], []
    for f in range(NOISE_FOLDS):
        held = seed_rows[fold == f]
        hidden = y.copy()
        hidden[held] = -1
        if len(held) == 0 or len(np.unique(hidden[hidden >= 0])) < 2:
            continue
        d, kept = spread(x, hidden, params, [])
        full = np.zeros((len(held), len(classes)))
        full[:, np.searchsorted(classes, kept)] = np.nan_to_num(d[held], nan=0.0)
        dists.append(full)
        truths.append(np.searchsorted(classes, y[held]))
    if not dists:
        return 1.0 / len(classes), 1.0
    dist, truth = np.concatenate(dists), np.concatenate(truths)
    return float(np.mean(dist.argmax(1) == truth)), fit_temperature(dist, truth)


def normalise(emb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Standardise each dimension (statistics of ``rows``), then scale each clip to unit length."""
    ref = emb[rows] if rows.any() else emb
    z = (emb - ref.mean(0)) / np.maximum(ref.std(0), 1e-8)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def _check_params(*, kernel, gamma, n_neighbors, alpha, max_iter, min_confidence, label_noise) -> dict[str, Any]:
    check_choice("kernel", kernel, KERNELS)
    problems = []
    try:
        check_label_noise(label_noise, flag="--label-noise")
    except ConfigError as exc:
        problems.append(str(exc))
    if not gamma > 0:
        problems.append(f"gamma = {gamma!r} (--gamma); expected > 0")
    if int(n_neighbors) != n_neighbors or n_neighbors < 1:
        problems.append(f"n_neighbors = {n_neighbors!r} (--neighbors); expected an integer >= 1")
    if not 0 < alpha < 1:
        problems.append(
            f"alpha = {alpha!r} (--alpha); expected 0 < alpha < 1 (the share of its label a seed may give up)"
        )
    if int(max_iter) != max_iter or max_iter < 1:
        problems.append(f"max_iter = {max_iter!r} (--max-iter); expected an integer >= 1")
    if not 0 <= min_confidence <= 1:
        problems.append(f"min_confidence = {min_confidence!r} (--min-confidence); expected 0 <= min_confidence <= 1")
    if problems:
        raise ConfigError("; ".join(problems))
    return {
        "kernel": kernel,
        "gamma": float(gamma),
        "n_neighbors": int(n_neighbors),
        "alpha": float(alpha),
        "max_iter": int(max_iter),
        "min_confidence": float(min_confidence),
        "label_noise": label_noise if label_noise in (None, "auto") else float(label_noise),
    }


def _group_ids(labels: list[str], groups: Mapping[str, Sequence[str]] | None) -> dict[str, Any]:
    """``ids [C]`` (group of each class), ``names`` (group names) and the ``mapping`` written to the report."""
    if not groups:
        return {"ids": np.zeros(len(labels), int), "names": ["all"], "mapping": {"all": list(labels)}}
    ids, owner = np.full(len(labels), -1), {}
    names = list(groups)
    for g, name in enumerate(names):
        if not groups[name]:
            raise ConfigError(f"group {name!r} names no class")
        for label in groups[name]:
            if label not in labels:
                raise ConfigError(unknown_name_message(f"class in group {name!r}", label, labels))
            if label in owner:
                raise ConfigError(
                    f"class {label!r} is in groups {owner[label]!r} and {name!r}; put each class in one group"
                )
            owner[label] = name
            ids[labels.index(label)] = g
    if (ids < 0).any():
        names.append(REST_GROUP)
        ids[ids < 0] = len(names) - 1
    return {
        "ids": ids,
        "names": names,
        "mapping": {n: [lab for c, lab in enumerate(labels) if ids[c] == g] for g, n in enumerate(names)},
    }


# ---------------------------------------------------------------------------- writing


@dataclass
class RelabelOutputs:
    pack_dir: Path
    report_md: Path
    report_json: Path
    clips_csv: Path
    tsne_png: Path | None


def write_relabelled(
    result: RelabelResult, out: str | Path, *, tsne_points: int = 2000, seed: int = 0
) -> RelabelOutputs:
    """Write the relabelled pack at ``out`` and its report in ``out/relabel/`` (see the module docstring).
    ``tsne_points``: clips in the t-SNE picture (a seeded sample; 0 = no picture)."""
    view, index = result.view(), result.pack.index
    extra = {
        "given_label": result.given,
        "manually_verified": index.verified.astype(bool),
        "relabel_status": result.status,
        "relabel_confidence": result.confidence,
    }
    info = {
        "relabel": {
            "from": str(result.pack.path),
            "from_checksum": result.pack.info.get("checksum"),
            **result.params,
            "groups": result.groups,
            "counts": result.counts(),
            "note": "verified = manually verified, or confidently relabelled (status confirmed/changed)",
        }
    }
    names = np.array(result.pack.labels + [""], dtype=object)
    pack_dir = write_pack_copy(
        view,
        out,
        info=info,
        index_extra=extra,
        csv_extra={"given_label": names[result.given], "relabel_status": result.status},
    )
    report = pack_dir / REPORT_DIR
    report.mkdir(exist_ok=True)
    clips_csv = _write_clips_csv(result, report / "relabel.csv")
    tsne = None
    if tsne_points > 0:
        rows = np.flatnonzero(result.status != "untouched")
        tsne = plot_relabel_tsne(
            result.features[rows],
            result.given[rows],
            result.label[rows],
            result.status[rows],
            result.pack.labels,
            report / "tsne.png",
            seed=seed,
            max_points=tsne_points,
        )
    report_json = report / "report.json"
    report_json.write_text(json.dumps({**result.to_dict(), "out": str(pack_dir)}, indent=1) + "\n")
    report_md = report / "report.md"
    report_md.write_text(report_markdown(result, pack_dir, tsne))
    return RelabelOutputs(pack_dir, report_md, report_json, clips_csv, tsne)


def report_markdown(result: RelabelResult, pack_dir: Path, tsne: Path | None) -> str:
    c, p = result.counts(), result.params
    kernel = f"knn, {p['n_neighbors']} neighbours" if p["kernel"] == "knn" else f"rbf, gamma {p['gamma']:g}"
    noise = {None: "ignored", "auto": "weighed, label noise estimated"}.get(
        p["label_noise"], f"weighed, label noise {p['label_noise']}"
    )
    lines = [
        f"# Label spreading: {result.pack.path.name} → {pack_dir.name}",
        "",
        f"{c['verified']} verified train clips spread their labels to {c['confirmed'] + c['changed'] + c['uncertain']} "
        f"unverified ones ({kernel}, alpha {p['alpha']:g}, {p['max_iter']} iterations, min confidence "
        f"{p['min_confidence']:g}; given labels {noise}): **{c['confirmed']} confirmed, {c['changed']} changed, "
        f"{c['uncertain']} uncertain**.",
        "",
        "| class | verified | unverified | confirmed | changed | uncertain | gained |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = result.table()
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['verified']} | {r['unverified']} | {r['confirmed']} | {r['changed']} | "
            f"{r['uncertain']} | {r['gained']} |"
        )
    total = {
        k: sum(r[k] for r in rows) for k in ("verified", "unverified", "confirmed", "changed", "uncertain", "gained")
    }
    lines.append(
        "| **all** | "
        + " | ".join(str(total[k]) for k in ("verified", "unverified", "confirmed", "changed", "uncertain", "gained"))
        + " |"
    )
    lines += [
        "",
        "*changed*: the clip left this class for another (*gained* counts the arrivals); *uncertain*: no "
        "class reached the minimum confidence, so the clip keeps its given label and stays unverified.",
        "",
    ]
    if len(result.groups) > 1:
        lines += ["Groups: " + "; ".join(f"{k} = {', '.join(v)}" for k, v in result.groups.items()), ""]
    lines += [f"- {n}" for n in result.notes] + ([""] if result.notes else [])
    if tsne is not None:
        lines += [f"![t-SNE of the embeddings before and after]({tsne.name})", ""]
    lines += [
        "Per clip: `relabel.csv`. Next: `wavetag train " + str(pack_dir) + " --semi` (starts from the verified and "
        "relabelled clips) or `wavetag train " + str(pack_dir) + "`.",
        "",
    ]
    return "\n".join(lines)


def _write_clips_csv(result: RelabelResult, path: Path) -> Path:
    names, index = result.pack.labels, result.pack.index
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "path", "given_label", "new_label", "status", "confidence"])
        for i in np.flatnonzero(result.status != "untouched"):
            conf = "" if np.isnan(result.confidence[i]) else f"{result.confidence[i]:.4f}"
            w.writerow(
                [
                    i,
                    index.path[i],
                    names[result.given[i]] if result.given[i] >= 0 else "",
                    names[result.label[i]] if result.label[i] >= 0 else "",
                    result.status[i],
                    conf,
                ]
            )
    return path
