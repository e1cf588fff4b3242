"""Accuracy by who spoke, and how often non-keyword speech is taken for a keyword.

A pack made from a ``wavetag synth`` set knows each clip's synthesis ``engine`` and ``voice``,
and a Speech Commands-layout pack each clip's ``word`` (its folder). `breakdown` turns those into:

- ``by_engine`` / ``by_voice``: clips and accuracy per value, so a model that only works for the
  voices it trained on shows it (pair with ``prepare --hold-out engine=...``);
- ``non_keywords``: for keyword tasks (a ``_unknown_`` class), the share of ``_unknown_`` clips
  predicted as a target word (a *false accept*), overall and for words that no training clip of
  the pack says (``unseen_words``): the figure that tells how a model treats new words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wavetag.data.clips import SILENCE, UNKNOWN
from wavetag.data.pack import Pack

GROUP_KEYS = ("engine", "voice")


def breakdown(pack: Pack, indices: np.ndarray, predicted: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Single-label packs: ``predicted`` and ``targets`` are class ids ``[N]`` of clips ``indices``."""
    out: dict[str, Any] = {}
    for key in GROUP_KEYS:
        column = pack.index.meta.get(key)
        if column is not None:
            out[f"by_{key}"] = _by_value(column[indices], predicted == targets)
    if UNKNOWN in pack.labels:
        out["non_keywords"] = non_keyword_false_accepts(pack, indices, predicted, targets)
    return out


def _by_value(values: np.ndarray, correct: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for value in sorted(set(values.tolist()) - {""}):
        hit = correct[values == value]
        rows.append({"value": value, "clips": int(hit.size), "accuracy": float(hit.mean())})
    return rows


def non_keyword_false_accepts(
    pack: Pack, indices: np.ndarray, predicted: np.ndarray, targets: np.ndarray
) -> dict[str, Any]:
    """False-accept rate of ``_unknown_`` clips, overall and split by whether training heard the word."""
    unknown = pack.labels.index(UNKNOWN)
    keywords = np.array([name not in (UNKNOWN, SILENCE) for name in pack.labels])
    mask = targets == unknown
    accepted = keywords[predicted[mask]]
    out: dict[str, Any] = {"clips": int(mask.sum()), "false_accept_rate": share(accepted)}
    words = pack.index.meta.get("word")
    if words is not None and mask.any():
        train = pack.split_indices("train")
        heard = set(words[train][pack.index.label[train] == unknown].tolist())
        clip_words = words[indices][mask]
        unseen = np.array([w not in heard for w in clip_words.tolist()], dtype=bool)
        for name, sel in (("unseen_words", unseen), ("seen_words", ~unseen)):
            out[name] = {
                "clips": int(sel.sum()),
                "words": len(set(clip_words[sel].tolist())),
                "false_accept_rate": share(accepted[sel]),
            }
        taken = {}
        for word, acc in zip(clip_words.tolist(), accepted.tolist(), strict=False):
            if acc:
                taken[word] = taken.get(word, 0) + 1
        out["most_accepted_words"] = sorted(taken.items(), key=lambda kv: -kv[1])[:10]
    return out


def share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if flags.size else None


def breakdown_markdown(metrics: dict[str, Any]) -> list[str]:
    """Markdown lines for the report (empty when the pack had nothing to break down)."""
    b = metrics.get("breakdown") or {}
    out: list[str] = []
    nk = b.get("non_keywords")
    if nk:
        out += [
            "## Non-keyword speech",
            "",
            f"- `_unknown_` clips taken for a keyword: {pct(nk['false_accept_rate'])} of {nk['clips']}",
        ]
        for name, title in (("unseen_words", "words no training clip says"), ("seen_words", "words heard in training")):
            if name in nk:
                out.append(
                    f"- {title}: {pct(nk[name]['false_accept_rate'])} of {nk[name]['clips']} clips "
                    f"({nk[name]['words']} words)"
                )
        if nk.get("most_accepted_words"):
            out.append("- most often accepted: " + ", ".join(f"{w} ({n})" for w, n in nk["most_accepted_words"]))
        out.append("")
    for key in GROUP_KEYS:
        rows = b.get(f"by_{key}")
        if rows:
            out += [f"## Accuracy by {key}", "", f"| {key} | clips | accuracy |", "|---|---|---|"]
            out += [f"| {r['value']} | {r['clips']} | {pct(r['accuracy'])} |" for r in rows] + [""]
    return out


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"
