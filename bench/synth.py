"""Benchmark ``wavetag synth speech-commands``: 200 speakers x 12 words with 2 jobs.

The 12 words are the 10 commands plus 2 auxiliary words (bed, bird). Each run builds into a
fresh temporary folder (so nothing is reused) and includes planning, synthesis by every engine
installed here (espeak always; flite and festival where Debian has them; piper where a voice is),
the 7 x 60 s background noises and the lists. The load average before and after is printed beside the
figures: the machine's cores are shared, and a busy neighbour slows the 2-job run.

Target (the synth issue): < 60 s wall time for 200 speakers x 12 words with jobs=2.

    OMP_NUM_THREADS=1 .venv/bin/python bench/synth.py
    OMP_NUM_THREADS=1 .venv/bin/python bench/synth.py --jobs 1 --engines espeak
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from wavetag.data.synth import COMMAND_WORDS, synth_speech_commands

TARGET_S = 60.0
WORDS = list(COMMAND_WORDS) + ["bed", "bird"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--engines", default=None, help="comma-separated; default: all installed")
    parser.add_argument("--rounds", type=int, default=1, help="timed builds (best is reported)")
    args = parser.parse_args()
    engines = args.engines.split(",") if args.engines else None

    load_before = os.getloadavg()
    walls, cpus, summary = [], [], None
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="wavetag-bench-synth-") as tmp:
            cpu_start, start = _cpu_s(), time.perf_counter()
            summary = synth_speech_commands(
                Path(tmp) / "sc", speakers=args.speakers, words=WORDS, jobs=args.jobs, engines=engines, progress=False
            )
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu_s() - cpu_start)
    load_after = os.getloadavg()
    best = min(walls)
    speakers = ", ".join(f"{e} {sum(c.values())}" for e, c in summary.speakers_by_engine.items())
    print(
        f"speakers: {summary.n_speakers} ({speakers}); words: {len(WORDS)}; jobs: {args.jobs}; cpus: {os.cpu_count()}"
    )
    print(
        f"clips: {summary.n_clips} (foreign-accent voices say only the words they read "
        "close to English, so fewer than speakers x words)"
    )
    print(
        f"wall: {best:.1f} s (best of {len(walls)}: {', '.join(f'{w:.1f}' for w in walls)})  "
        f"target < {TARGET_S:.0f} s  -> {'OK' if best < TARGET_S else 'MISSED'}"
    )
    print(f"throughput: {summary.n_clips / best:.0f} clips/s, {summary.n_speakers / best:.1f} speakers/s")
    print(
        f"cpu: {min(cpus):.1f} s user+sys over all processes (load-independent work; wall on idle cores ~ cpu / jobs)"
    )
    print(
        f"load average (1/5/15 min): before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}"
    )


def _cpu_s() -> float:
    """User+sys seconds of this process and every child it has waited for (workers, their
    forked speakers and flite/festival subprocesses)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
