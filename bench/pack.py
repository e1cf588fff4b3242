"""Benchmark ``prepare`` and batch reads against the targets of issue 3.

    python bench/pack.py                  # 20,000 clips
    python bench/pack.py --clips 105000   # the Speech Commands v2 scale (writes ~3.4 GB twice)

Writes N one-second 16 kHz int16 WAVs (every one is decoded; none are links), times ``prepare``
with each ``--jobs`` value in a fresh process (peak RSS of that process and of its decode
workers from getrusage), then times random batches of 128 through `make_batch`. The WAVs were
just written, so they are in the page cache: this measures decoding, not a cold disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_PREPARE_CLIPS_S = 1500  # clips/s on 2 cores (Speech Commands v2's 105k clips in < 2 min)
TARGET_BATCH_CLIPS_S = 50_000  # clips/s, random batches of 128
TARGET_PEAK_GIB = 1.0  # peak memory while preparing 100k clips
SR = 16000
CLASSES = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def write_source(root: Path, clips: int, seed: int = 0) -> float:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    bank = (rng.standard_normal((256, SR)) * 2000).astype(np.int16)
    started = time.perf_counter()
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(clips):
        speaker = f"{i // 5:08x}"
        sf.write(str(root / CLASSES[i % len(CLASSES)] / f"{speaker}_nohash_{i % 5}.wav"), bank[i % 256], SR)
    return time.perf_counter() - started


def prepare_child(src: str, out: str, jobs: int) -> None:
    """Runs in a fresh interpreter: prepare, then print timings and peak RSS as JSON."""
    from wavetag.data import prepare

    started = time.perf_counter()
    summary = prepare(src, out, jobs=jobs, clip_seconds=1.0, force=True, progress=True)
    elapsed = time.perf_counter() - started
    kib_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kib_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "clips": summary.num_clips,
                "rejected": summary.rejected,
                "elapsed_s": elapsed,
                "rss_self_mib": kib_self / 1024,
                "rss_worker_mib": kib_child / 1024,
            }
        )
    )


def bench_batches(pack_dir: Path, batches: int, batch_size: int = 128) -> float:
    import torch

    from wavetag.data import Pack, make_batch

    torch.set_num_threads(1)
    pack = Pack.open(pack_dir)
    rng = np.random.default_rng(0)
    for _ in range(10):  # warm-up: map the file, fault in pages
        make_batch(pack, rng.integers(len(pack), size=batch_size), num_samples=SR, generator=rng)
    started = time.perf_counter()
    for _ in range(batches):
        make_batch(pack, rng.integers(len(pack), size=batch_size), num_samples=SR, crop="random", generator=rng)
    return batches * batch_size / (time.perf_counter() - started)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20_000, help="WAV files to write and prepare (default 20,000)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time (default 1,2)")
    parser.add_argument("--batches", type=int, default=400, help="random batches of 128 to time (default 400)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed at the end)")
    parser.add_argument("--pack", default=None, help="only time random batches from this existing pack")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        prepare_child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.pack:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        rate = bench_batches(Path(args.pack), args.batches)
        print(
            f"random batches of 128 (make_batch, 1 thread): {rate:,.0f} clips/s   "
            f"target >= {TARGET_BATCH_CLIPS_S:,}: {verdict(rate >= TARGET_BATCH_CLIPS_S)}"
        )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    work = Path(args.dir or tempfile.mkdtemp(prefix="wavetag-bench-"))
    try:
        run(work, args)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args) -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    seconds = write_source(work / "src", args.clips)
    print(f"wrote {args.clips:,} one-second 16 kHz WAVs in {seconds:.1f} s")
    for jobs in [int(j) for j in args.jobs.split(",")]:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(work / "src"), str(work / "pack"), str(jobs)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = r["clips"] / r["elapsed_s"]
        peak_gib = (r["rss_self_mib"] + jobs * r["rss_worker_mib"]) / 1024
        target = (
            f"target >= {TARGET_PREPARE_CLIPS_S:,} on 2 cores: {verdict(rate >= TARGET_PREPARE_CLIPS_S)}"
            if jobs == 2
            else "(1-process figure)"
        )
        print(f"prepare --jobs {jobs}: {r['clips']:,} clips in {r['elapsed_s']:.1f} s = {rate:,.0f} clips/s   {target}")
        print(
            f"  peak RSS: main {r['rss_self_mib']:.0f} MiB + {jobs} x worker <= {r['rss_worker_mib']:.0f} MiB "
            f"= {peak_gib:.2f} GiB   target < {TARGET_PEAK_GIB:g} GiB: {verdict(peak_gib < TARGET_PEAK_GIB)}"
        )
        if jobs == 2:
            print(f"  at this rate Speech Commands v2 (105,829 clips) takes {105_829 / rate:.0f} s (target < 120 s)")
        print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rate = bench_batches(work / "pack", args.batches)
    print(
        f"random batches of 128 x 1 s (make_batch, 1 thread): {rate:,.0f} clips/s   "
        f"target >= {TARGET_BATCH_CLIPS_S:,}: {verdict(rate >= TARGET_BATCH_CLIPS_S)}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
