"""A reference listener: a second opinion on which test clips sound like their word.

A fold's accuracy mixes two things: how well the model copes with a voice it never heard, and how
clearly that voice says the words. A recogniser trained on recordings of people separates them.
CMU PocketSphinx (the ``pocketsphinx`` wheel carries its US-English acoustic model and
pronouncing dictionary; nothing is downloaded) hears each clip of a word label, forced to choose
among the pack's words (a grammar of those words alone). Where it too hears another word, the
clip is a doubtful test of the model (Piper's *off*: heard as *up* by the listener in 19 of 30
clips, and by the models); where it hears the word and the model does not, the miss is the
model's.

`reference_check` gives the listener's accuracy on the split's word clips (overall, by engine and
voice, and what it heard instead), and the model's accuracy on the clips the listener heard right
and on the rest. The listener is a 2010s GMM model, weaker than the models trained here on most
engines: it is a second opinion, not ground truth, and the figures say so beside each other.

>>> listener = ReferenceListener(["yes", "no"])
>>> listener.hear(int16_clip_at_16khz)   # "yes", "no" or None (nothing heard)
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wavetag import audio
from wavetag.data.pack import Pack
from wavetag.data.splits import SPLITS
from wavetag.errors import ConfigError
from wavetag.evaluate.breakdown import pct, share

SAMPLE_RATE = 16_000  # the acoustic model's rate; other packs are resampled
NAME = "pocketsphinx en-us (CMU Sphinx acoustic model, trained on recordings of people)"
INSTALL_HINT = "pip install --no-deps pocketsphinx==5.1.1 (make setup installs it from requirements.lock)"
WORD = re.compile(r"^[a-z][a-z']*$")
MOST_HEARD_AS = 10
REFERENCE_CSV = "reference.csv"  # in the report folder: path,label,heard,split[,model] per word clip


def require_listener() -> None:
    """Raise `ConfigError` with what to install when the ``pocketsphinx`` package is missing."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        raise ConfigError(f"the reference listener needs the 'pocketsphinx' package: {INSTALL_HINT}") from None


class ReferenceListener:
    """PocketSphinx forced to choose one of ``words`` for each clip (16 kHz int16 samples)."""

    def __init__(self, words: list[str]) -> None:
        require_listener()
        from pocketsphinx import Decoder

        if not words:
            raise ConfigError(
                "reference listener: no word labels to listen for (labels starting with '_' are not words)"
            )
        odd = [w for w in words if not WORD.match(w)]
        if odd:
            raise ConfigError(
                f"reference listener: labels {', '.join(map(repr, odd))} are not lower-case English words; "
                "it listens for spoken-word labels (a keyword pack), not sound classes"
            )
        self._decoder = Decoder(samprate=SAMPLE_RATE, lm=None, loglevel="FATAL")
        unknown = [w for w in words if self._decoder.lookup_word(w) is None]
        if unknown:
            raise ConfigError(
                f"reference listener: {', '.join(map(repr, unknown))} not in its US-English pronouncing "
                "dictionary (cmudict); it can only listen for dictionary words"
            )
        self.words = list(words)
        grammar = "#JSGF V1.0;\ngrammar words;\npublic <w> = " + " | ".join(words) + " ;\n"
        self._decoder.add_jsgf_string("words", grammar)
        self._decoder.activate_search("words")

    def hear(self, wav: np.ndarray) -> str | None:
        """The word heard in ``wav`` (int16 ``[T]`` at 16 kHz), or None when nothing was heard.

        The feature state (noise estimate, cepstral mean) is reset first, so a clip is heard the
        same whatever was heard before it.
        """
        d = self._decoder
        d.reinit_feat()
        d.start_utt()
        d.process_raw(np.ascontiguousarray(wav, dtype=np.int16).tobytes(), full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return hyp.hypstr if hyp is not None and hyp.hypstr else None


def listener_for(pack: Pack) -> ReferenceListener:
    """A listener for the pack's word labels (``_unknown_``, ``_silence_`` and other ``_...`` classes
    are not words); raises `ConfigError` for a multi-label pack or labels that are not words."""
    if pack.multi_label:
        raise ConfigError(f"{pack.path}: the reference listener needs a single-label pack of spoken words")
    return ReferenceListener([name for name in pack.labels if not name.startswith("_")])


@dataclass
class Hearing:
    """What the listener heard on the word clips of a pack: ``indices`` (pack clip ids ``[M]``),
    ``truth`` (their labels), ``heard`` (the word heard, None for nothing)."""

    indices: np.ndarray
    truth: list[str]
    heard: list[str | None]

    @property
    def agrees(self) -> np.ndarray:
        """bool ``[M]``: the listener heard the clip's own label."""
        return np.array([h == t for h, t in zip(self.heard, self.truth, strict=True)], dtype=bool)


def word_clips(pack: Pack, indices: np.ndarray, listener: ReferenceListener) -> np.ndarray:
    """The clips among ``indices`` (int64) whose label is one of the listener's words."""
    indices = np.asarray(indices, dtype=np.int64)
    return indices[np.isin(pack.index.label[indices], [pack.labels.index(w) for w in listener.words])]


def hear_pack(
    pack: Pack, indices: np.ndarray, listener: ReferenceListener, *, advance: Callable[[int], None] | None = None
) -> Hearing:
    """The listener on the clips among ``indices`` whose label is one of its words (others skipped;
    ~11 ms a 1-s clip on one core). ``advance(n)`` is called as clips are heard (a progress bar)."""
    chosen = word_clips(pack, indices, listener)
    truth = [pack.labels[k] for k in pack.index.label[chosen].tolist()]
    heard = []
    for i in chosen.tolist():
        heard.append(listener.hear(_clip16(pack, i)))
        if advance is not None:
            advance(1)
    return Hearing(chosen, truth, heard)


def clip_rows(pack: Pack, hearing: Hearing) -> list[dict[str, str]]:
    """One row per heard clip: path, label, heard ("" for nothing), split."""
    return [
        {"path": str(pack.index.path[i]), "label": t, "heard": h or "", "split": SPLITS[pack.index.split[i]]}
        for i, t, h in zip(hearing.indices.tolist(), hearing.truth, hearing.heard, strict=True)
    ]


def listener_summary(pack: Pack, hearing: Hearing) -> dict[str, Any]:
    """``listener``, ``clips``, ``accuracy``, ``clips_not_heard``, ``heard_as`` (most frequent
    (label, heard) pairs where they differ), ``by_label`` and, when the pack knows them,
    ``by_engine`` / ``by_voice`` (the listener's accuracy on each)."""
    agrees, truth = hearing.agrees, np.asarray(hearing.truth, dtype=object)
    missed = Counter((t, h) for t, h, a in zip(hearing.truth, hearing.heard, agrees, strict=True) if not a)
    out: dict[str, Any] = {
        "listener": NAME,
        "clips": len(hearing.truth),
        "accuracy": share(agrees),
        "clips_not_heard": int((~agrees).sum()),
        "heard_as": [
            {"label": t, "heard": h or "(nothing)", "clips": n} for (t, h), n in missed.most_common(MOST_HEARD_AS)
        ],
        "by_label": [
            {"label": w, "clips": int((truth == w).sum()), "accuracy": share(agrees[truth == w])}
            for w in pack.labels
            if (truth == w).any()
        ],
    }
    for key in ("engine", "voice"):
        column = pack.index.meta.get(key)
        if column is not None:
            values = column[hearing.indices]
            out[f"by_{key}"] = [
                {"value": v, "clips": int((values == v).sum()), "accuracy": share(agrees[values == v])}
                for v in sorted(set(values.tolist()) - {""})
            ]
    return out


def reference_check(
    pack: Pack,
    indices: np.ndarray,
    predicted: np.ndarray,
    targets: np.ndarray,
    *,
    listener: ReferenceListener | None = None,
) -> dict[str, Any]:
    """The listener on the word clips among ``indices``, beside a model's class ids ``predicted``
    (``targets``: the true ids; both ``[N]``, in the order of ``indices``).

    Returns `listener_summary`'s fields, with the model's accuracy beside the listener's:
    ``model_accuracy`` (all word clips, and in each ``by_label`` row), ``model_accuracy_heard`` and
    ``model_accuracy_not_heard`` (the model on the clips the listener heard right / not), and
    ``clip_rows`` (path, label, heard, split, model: one per word clip, for `write_reference_csv`).
    """
    listener = listener or listener_for(pack)
    hearing = hear_pack(pack, indices, listener)
    keep = np.isin(np.asarray(indices), hearing.indices)  # the word clips, in the order hear_pack keeps
    model = predicted[keep]
    model_right = model == targets[keep]
    agrees, truth = hearing.agrees, np.asarray(hearing.truth, dtype=object)
    out = listener_summary(pack, hearing)
    out["model_accuracy"] = share(model_right)
    out["model_accuracy_heard"] = share(model_right[agrees])
    out["model_accuracy_not_heard"] = share(model_right[~agrees])
    for row in out["by_label"]:
        row["model_accuracy"] = share(model_right[truth == row["label"]])
    out["clip_rows"] = [
        {**row, "model": pack.labels[m]} for row, m in zip(clip_rows(pack, hearing), model.tolist(), strict=True)
    ]
    return out


def reference_lines(ref: dict[str, Any]) -> list[str]:
    """Terminal lines: the listener's accuracy, the model's on what it heard right and on the rest."""
    if not ref.get("clips"):
        return ["  reference listener: no word clips in this split"]
    lines = [
        f"  reference listener ({ref['listener'].split(' (')[0]}, forced choice among the words): hears "
        f"{pct(ref['accuracy'])} of {ref['clips']} word clips as their word; the model: {pct(ref['model_accuracy'])} "
        f"of all, {pct(ref['model_accuracy_heard'])} of those it heard right, "
        f"{pct(ref['model_accuracy_not_heard'])} of the {ref['clips_not_heard']} it did not"
    ]
    if ref["heard_as"]:
        lines.append(
            "  the listener heard instead: "
            + ", ".join(f"{r['label']} as {r['heard']} ({r['clips']})" for r in ref["heard_as"][:6])
        )
    return lines


def reference_markdown(ref: dict[str, Any]) -> list[str]:
    """The report's section on the reference listener."""
    out = [
        "## Reference listener",
        "",
        f"A second opinion from {ref['listener']}, forced to choose among the words: which clips sound like "
        "their word to a recogniser trained on people. It is weaker than most models trained here; a clip it "
        "hears as another word is a doubtful test, one it hears right and the model misses is the model's miss.",
        "",
        "| | clips | accuracy |",
        "|---|---|---|",
        f"| the listener | {ref['clips']} | {pct(ref['accuracy'])} |",
        f"| the model, all word clips | {ref['clips']} | {pct(ref['model_accuracy'])} |",
        f"| the model, clips the listener heard right | {ref['clips'] - ref['clips_not_heard']} | "
        f"{pct(ref['model_accuracy_heard'])} |",
        f"| the model, the rest | {ref['clips_not_heard']} | {pct(ref['model_accuracy_not_heard'])} |",
        "",
        "| label | clips | the listener | the model |",
        "|---|---|---|---|",
        *(
            f"| {r['label']} | {r['clips']} | {pct(r['accuracy'])} | {pct(r['model_accuracy'])} |"
            for r in ref["by_label"]
        ),
        "",
    ]
    if ref["heard_as"]:
        out += ["| label | heard by the listener | clips |", "|---|---|---|"]
        out += [f"| {r['label']} | {r['heard']} | {r['clips']} |" for r in ref["heard_as"]] + [""]
    for key in ("engine", "voice"):
        rows = ref.get(f"by_{key}")
        if rows:
            out += [f"| {key} | clips | the listener's accuracy |", "|---|---|---|"]
            out += [f"| {r['value']} | {r['clips']} | {pct(r['accuracy'])} |" for r in rows] + [""]
    return out


def _clip16(pack: Pack, i: int) -> np.ndarray:
    clip = np.asarray(pack.clip(i))
    if pack.sample_rate == SAMPLE_RATE:
        return clip
    x = audio.resample(pack.waveform(i), pack.sample_rate, SAMPLE_RATE)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def write_reference_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """One row per word clip: path, label, heard (empty: nothing heard), split, and in evaluate's
    the model's label (``model``)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["path", "label", "heard"])
        writer.writeheader()
        writer.writerows(rows)
