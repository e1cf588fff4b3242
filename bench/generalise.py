"""Generalisation to voices never heard: leave-one-engine-out folds of the built-in speech set.

The demo's keyword set, spoken by every synthesis engine installed here (espeak-ng; Debian's flite
and festival, whose voices are built from recordings of people; and, unlike the demo, Piper's
neural en_US-joe-medium, trained on a recording of one real speaker). For each engine E,
`prepare --hold-out engine=E` makes a pack whose test split is *only* E's speakers; the model is
trained on the other engines (validation: their unseen speakers) and scored on E. Non-keyword
words are drawn from a frequency list and each is said by speakers of one split only
(`synth --unknown-words`), so the test split also measures how often a model takes a word it
never heard for a keyword. Printed beside the targets of issue 10:

    leave-one-engine-out accuracy, 12 classes   mean >= 95 %, every fold >= 90 %
    non-keyword words unseen in training         <= 3 % taken for a keyword (held-out engine)
    in-domain accuracy of the recipe             >= 97 % (the demo's own split)

Not a test: training takes minutes per fold, and the wall time moves with the load of the shared
cores (printed). Synthetic engines are not people: these folds estimate the gap to voices a model
never heard; they do not measure accuracy on human speech. Beside each fold, a reference listener
trained on recordings of people (PocketSphinx; `wavetag evaluate --reference`) hears the same
keyword clips: its accuracy says how clearly the test voice says the words, and the model's
accuracy on the clips it heard right separates the model's misses from doubtful clips (Piper's
*off*, heard as *up* by both). ``--no-reference`` leaves those columns out.

    OMP_NUM_THREADS=1 .venv/bin/python bench/generalise.py                        # the demo recipe
    OMP_NUM_THREADS=1 .venv/bin/python bench/generalise.py --recipe kws --epochs 15 --keep runs/gen
    OMP_NUM_THREADS=1 .venv/bin/python bench/generalise.py --train-engines kokoro  # + Kokoro voices in training
    OMP_NUM_THREADS=2 .venv/bin/python bench/generalise.py --balance-by engine \
        --speakers espeak=256,flite=61,festival=53,piper=30   # the set of README's fold table (3-7 min a fold)
    OMP_NUM_THREADS=2 .venv/bin/python bench/generalise.py --recipe kws_light --balance-by engine \
        --speakers espeak=256,flite=61,festival=53,piper=30,kokoro=60   # the light recipe with Kokoro voices

``--train-engines`` names engines that are synthesised and trained on in every fold but never held
out (Kokoro, opt-in for its cost: ~0.7 s a word on one core; hibari, opt-in as a measured option).
An opt-in engine named in ``--engines`` is held out as a fold too (``--engines
espeak,flite,festival,piper,hibari``: a fold of hibari's one American voice at many pitches).
``--seeds N`` trains each fold N times and prints the mean and each seed's figure (the piper
fold, one voice and 480 clips, moves by ~2 points between seeds: 83.1 and 80.8 % for the same
data). ``--speakers`` takes a total or
speakers per engine (ENGINE=N, as `wavetag synth`); engines named there but not held out by
default (kokoro) are trained on in every fold. ``--config FILE`` lays a YAML of training fields
over the recipe (as ``wavetag train -c``), to measure one change on every fold; with ``--keep``, a
second run in the same folder reuses the synthesised clips:

    OMP_NUM_THREADS=2 .venv/bin/python bench/generalise.py --balance-by engine --seeds 2 --keep runs/gen \
        --speakers espeak=256,flite=61,festival=53,piper=30,kokoro=60 --config masks.yaml
    # masks.yaml (the README's SpecAugment row):
    #   augment: {spec_augment: {p: 0.5, time_masks: 1, time_mask_width: 10, freq_masks: 1, freq_mask_width: 4}}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavetag.config import load_yaml, merge_dicts  # noqa: E402
from wavetag.data import prepare  # noqa: E402
from wavetag.data.synth import synth_speech_commands  # noqa: E402
from wavetag.data.synth.engines import available_engines  # noqa: E402
from wavetag.data.synth.speech_commands import parse_speakers  # noqa: E402
from wavetag.demo import DEMO_RECIPE, DEMO_SYNTH  # noqa: E402
from wavetag.errors import ConfigError  # noqa: E402
from wavetag.evaluate import evaluate  # noqa: E402
from wavetag.evaluate.reference import ReferenceListener  # noqa: E402
from wavetag.train import train  # noqa: E402
from wavetag.train.config import TrainConfig  # noqa: E402
from wavetag.train.recipes import train_config  # noqa: E402

TARGET_MEAN, TARGET_FOLD, TARGET_FA, TARGET_IN_DOMAIN = 0.95, 0.90, 0.03, 0.97


def run_fold(data: Path, work: Path, name: str, hold_out: str | None, args) -> dict:
    """Prepare the fold's pack, train it once per seed, and average the test figures over the seeds."""
    pack = work / f"pack-{name}"
    prepare(data, pack, clip_seconds=1.0, hold_out=hold_out, unknown_share=DEMO_SYNTH["unknown_share"], progress=False)
    runs = []
    for seed in range(args.seeds):
        run = work / (f"run-{name}" if seed == 0 else f"run-{name}-seed{seed}")
        started = time.perf_counter()
        train(pack, fold_config(args, seed), run, overwrite=True, progress=False, verbose=False)
        seconds = time.perf_counter() - started
        metrics = evaluate(run, pack, reference=args.reference).metrics
        b = metrics.get("breakdown", {})
        unseen = (b.get("non_keywords") or {}).get("unseen_words") or {}
        ref = b.get("reference") or {}
        runs.append(
            {
                "accuracy": metrics["overall"]["accuracy"],
                "listener": ref.get("accuracy"),
                "model_heard": ref.get("model_accuracy_heard"),
                "train_s": seconds,
                "fa_unseen": unseen.get("false_accept_rate"),
                "unseen_clips": unseen.get("clips", 0),
                "by_voice": {r["value"]: r["accuracy"] for r in b.get("by_voice", [])},
            }
        )
    fas = [r["fa_unseen"] for r in runs if r["fa_unseen"] is not None]
    heard = [r["model_heard"] for r in runs if r["model_heard"] is not None]
    voices = runs[0]["by_voice"]
    return {
        "fold": name,
        "accuracy": statistics.mean(r["accuracy"] for r in runs),
        "accuracies": [r["accuracy"] for r in runs],
        "train_s": statistics.mean(r["train_s"] for r in runs),
        "fa_unseen": statistics.mean(fas) if fas else None,
        "unseen_clips": runs[0]["unseen_clips"],
        "listener": runs[0]["listener"],  # the same clips every seed
        "model_heard": statistics.mean(heard) if heard else None,
        "by_voice": {v: statistics.mean(r["by_voice"].get(v, 0.0) for r in runs) for v in voices},
    }


def fold_config(args, seed: int) -> TrainConfig:
    """The recipe, then ``--config``'s fields (read once, ``args.config_fields``), then ``--epochs`` /
    ``--balance-by`` (as `wavetag train`)."""
    flags = {"epochs": args.epochs, "balance_by": args.balance_by, "seed": seed}
    return train_config(args.recipe, **merge_dicts(args.config_fields, flags))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=DEMO_RECIPE, help=f"training recipe (default: the demo's, {DEMO_RECIPE})")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML of training fields over the recipe, as `wavetag train -c` (e.g. augment: {speed: {p: 0.5}})",
    )
    ap.add_argument(
        "--speakers",
        default=str(DEMO_SYNTH["speakers"]),
        help="synthetic speakers: a total, or per engine (espeak=256,kokoro=180), which names the engines synthesised",
    )
    ap.add_argument(
        "--balance-by",
        default=None,
        help="draw each value of this clip column equally often in training (train --balance-by, e.g. engine)",
    )
    ap.add_argument("--engines", default=None, help="folds to run, comma-separated (default: every engine here)")
    ap.add_argument(
        "--train-engines",
        default="",
        help="engines in every fold's training data but never held out, comma-separated (e.g. kokoro)",
    )
    ap.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train each fold this many times (seeds 0..N-1) and report the mean and the spread: one "
        "voice's fold moves by ~2 points between seeds",
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the data, packs and runs in this folder")
    ap.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="leave out the reference listener's columns (on by default where pocketsphinx is installed)",
    )
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error(f"--seeds {args.seeds}: expected 1 or more")
    try:
        speakers = parse_speakers(args.speakers)
    except ConfigError as exc:
        ap.error(f"--speakers: {exc}")
    try:
        args.config_fields = load_yaml(args.config) if args.config else {}
        fold_config(args, 0)  # a wrong recipe or config field stops here, before an hour of synthesis
    except ConfigError as exc:
        ap.error(f"--recipe/--config: {exc}")
    if args.reference:
        try:
            ReferenceListener(["yes"])
        except ConfigError as exc:
            print(f"reference listener left out: {exc}")
            args.reference = False
    work = args.keep or Path(tempfile.mkdtemp(prefix="wavetag-generalise-"))
    work.mkdir(parents=True, exist_ok=True)
    named = list(speakers) if isinstance(speakers, dict) else None
    engines = args.engines.split(",") if args.engines else [e for e in available_engines() if e in (named or [e])]
    extra = [e for e in dict.fromkeys([*args.train_engines.split(","), *(named or [])]) if e and e not in engines]
    synthesised = list(dict.fromkeys([*(named or available_engines()), *engines, *extra]))  # folds train on the rest
    if named and set(synthesised) != set(named):
        missing = sorted(set(synthesised) - set(named))
        ap.error(f"--speakers gives no count for {', '.join(missing)} (held out or trained on): add ENGINE=N")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    data = work / "data"
    synth = {k: v for k, v in DEMO_SYNTH.items() if k != "unknown_share"}
    synth_speech_commands(data, **{**synth, "speakers": speakers}, engines=synthesised, jobs=2, progress=False)
    rows = [run_fold(data, work, "in-domain", None, args)]
    rows += [run_fold(data, work, e, f"engine={e}", args) for e in engines]
    folds = [r for r in rows if r["fold"] != "in-domain"]
    print(
        f"\nrecipe {args.recipe}{' + ' + str(args.config) if args.config else ''}"
        f"{', balanced by ' + args.balance_by if args.balance_by else ''}, "
        f"{args.speakers} speakers, {args.seeds} seed{'s' if args.seeds > 1 else ''} a fold, "
        f"engines {', '.join(engines)}"
        f"{' + ' + ', '.join(extra) + ' (training only)' if extra else ''}; "
        f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end; {time.perf_counter() - started:.0f} s"
    )
    print(
        f"{'fold (test speakers)':24s} {'accuracy':>9s} {'target':>8s} {'unseen-word FA':>15s} {'target':>7s} "
        f"{'train s':>8s} {'listener':>9s} {'model where heard':>18s}"
    )
    for r in rows:
        target = TARGET_IN_DOMAIN if r["fold"] == "in-domain" else TARGET_FOLD
        fa = "n/a" if r["fa_unseen"] is None else f"{100 * r['fa_unseen']:.1f} %"
        spread = (
            f"  seeds: {', '.join(f'{100 * a:.1f}' for a in r['accuracies'])} %" if len(r["accuracies"]) > 1 else ""
        )
        listener = "n/a" if r["listener"] is None else f"{100 * r['listener']:.1f} %"
        heard = "n/a" if r["model_heard"] is None else f"{100 * r['model_heard']:.1f} %"
        print(
            f"{r['fold']:24s} {100 * r['accuracy']:8.1f} % {'>= ' + str(int(100 * target)):>8s} "
            f"{fa:>15s} {'<= 3':>7s} {r['train_s']:8.0f} {listener:>9s} {heard:>18s}{spread}"
        )
    if folds:
        mean = sum(r["accuracy"] for r in folds) / len(folds)
        ok = mean >= TARGET_MEAN and all(r["accuracy"] >= TARGET_FOLD for r in folds)
        print(
            f"{'leave-one-engine-out mean':24s} {100 * mean:8.1f} % {'>= 95':>8s}   "
            f"{'met' if ok else 'MISSED'} (mean >= 95 %, every fold >= 90 %)"
        )
    if args.reference:
        print(
            "  listener: the reference listener (PocketSphinx, trained on people; wavetag evaluate --reference) on "
            "the fold's keyword clips; model where heard: the model's keyword accuracy on the clips it heard right"
        )
    for r in folds:
        voices = ", ".join(f"{v} {100 * a:.1f} %" for v, a in sorted(r["by_voice"].items()))
        print(f"  {r['fold']} by voice: {voices}")
    (work / "generalise.json").write_text(json.dumps(rows, indent=1))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
