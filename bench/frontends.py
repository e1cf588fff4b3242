"""Front-end throughput on one thread: wavetag against librosa called per clip.

Cases: logmel-40 and mfcc-40 on 1-s 16 kHz clips (30 ms Hann window in n_fft 512, 10 ms hop,
40 mels; MFCC: 40 coefficients of 40 mels in dB), wavetag at batch 1 and 256, librosa one clip
per call with the same parameters. Each figure is the best of several timed rounds that together
last ``--seconds`` (the fastest round is the least disturbed by whatever else runs on the shared
cores), counted in CPU time of the measuring thread (``time.thread_time``): on an idle core that
is wall-clock clips/s, on a shared one it leaves out the time the thread waited for the CPU. The
wall-clock figures and the load average are printed beside the table.

Targets (the Foundation issue): wavetag >= 6x librosa per clip in every case, and >= 7,000
clips/s for logmel-40 at batch 256.

    OMP_NUM_THREADS=1 .venv/bin/python bench/frontends.py --seconds 3
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1-s clips
N_FFT, HOP, WIN, N_MELS, LOG_EPS = 512, 160, 480, 40, 1e-6  # = logmel defaults at 16 kHz
RATIO_TARGET = 6.0  # x librosa per clip
LOGMEL_B256_TARGET = 7000.0  # clips/s, one thread
ROUNDS = 7


@dataclass
class Case:
    name: str
    frontend: str
    batch: int
    librosa_fn: Callable[[np.ndarray], np.ndarray]
    min_clips_s: float | None = None


def librosa_logmel(y: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y,
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=WIN,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=N_MELS,
    )
    return np.log(mel + LOG_EPS)


def librosa_mfcc(y: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.feature.mfcc(
        y=y,
        sr=SAMPLE_RATE,
        n_mfcc=40,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=WIN,
        window="hann",
        center=True,
        pad_mode="constant",
        n_mels=N_MELS,
    )


CASES = [
    Case("logmel-40 b1", "logmel", 1, librosa_logmel),
    Case("logmel-40 b256", "logmel", 256, librosa_logmel, LOGMEL_B256_TARGET),
    Case("mfcc-40 b1", "mfcc", 1, librosa_mfcc),
    Case("mfcc-40 b256", "mfcc", 256, librosa_mfcc),
]


def clips_per_s(
    fn: Callable[[], object], clips_per_call: int, seconds: float, clock: Callable[[], float] = time.thread_time
) -> tuple[float, float]:
    """Best (``clock``, wall-clock) rates over `ROUNDS` rounds lasting ``seconds`` in all. ``clock``
    is the measuring thread's CPU time; pass ``time.perf_counter`` for code that computes in
    threads of its own."""
    fn()  # warm-up
    t0 = clock()
    fn()
    calls = max(1, int(seconds / ROUNDS / max(clock() - t0, 1e-6)))
    best_cpu = best_wall = 0.0
    for _ in range(ROUNDS):
        cpu0, wall0 = clock(), time.perf_counter()
        for _ in range(calls):
            fn()
        cpu, wall = clock() - cpu0, time.perf_counter() - wall0
        best_cpu = max(best_cpu, calls * clips_per_call / max(cpu, 1e-9))
        best_wall = max(best_wall, calls * clips_per_call / wall)
    return best_cpu, best_wall


def run_case(case: Case, seconds: float, librosa_rates: dict[str, tuple[float, float]]) -> dict:
    from wavetag.frontends import create_frontend

    fe = create_frontend(case.frontend, sample_rate=SAMPLE_RATE, n_mels=N_MELS).eval()
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((case.batch, 1, CLIP_SAMPLES))).astype(np.float32)
    wav = torch.from_numpy(clips)
    with torch.inference_mode():
        ours = fe(wav)
        max_diff = float(np.abs(ours[0, 0].numpy() - case.librosa_fn(clips[0, 0])).max())
        rate, wall = clips_per_s(lambda: fe(wav), case.batch, seconds)
    if case.frontend not in librosa_rates:  # per clip, so the same for every batch size
        librosa_rates[case.frontend] = clips_per_s(lambda: case.librosa_fn(clips[0, 0]), 1, seconds)
    ref, ref_wall = librosa_rates[case.frontend]
    ok = rate >= RATIO_TARGET * ref and (case.min_clips_s is None or rate >= case.min_clips_s)
    target = f">= {RATIO_TARGET:g}x" + (f", >= {case.min_clips_s:,.0f}/s" if case.min_clips_s else "")
    return {
        "case": case.name,
        "ours": rate,
        "peer": ref,
        "ratio": rate / ref,
        "target": target,
        "verdict": "PASS" if ok else "MISS",
        "max_diff": max_diff,
        "wall": f"{wall:,.0f} / {ref_wall:,.0f}",
    }


def parse_seconds(doc: str) -> float:
    """``--seconds`` from the command line (the first paragraph of ``doc`` as the description);
    torch set to one thread."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement, s (default 3)")
    seconds = parser.parse_args().seconds
    torch.set_num_threads(1)
    return seconds


def main() -> None:
    seconds = parse_seconds(__doc__)
    load_before = os.getloadavg()
    librosa_rates: dict[str, tuple[float, float]] = {}
    rows = [run_case(case, seconds, librosa_rates) for case in CASES]
    load_after = os.getloadavg()
    print(
        f"1 thread (torch {torch.__version__}), 1-s {SAMPLE_RATE // 1000} kHz clips; clips per CPU-second, "
        f"best of {ROUNDS} rounds in {seconds:g} s per figure"
    )
    print_table(rows, peer="librosa", note="target", case_width=16)
    print_load(load_before, load_after)


def print_table(rows: list[dict], *, peer: str, note: str, case_width: int) -> None:
    """One line per row: case, wavetag's and the peer's clips/s (keys ``ours`` and ``peer``), their
    ratio, the row's ``note`` column, verdict, max |diff| and the wall-clock rates."""
    header = (
        f"{'case':<{case_width}}{'wavetag':>9}{peer:>9}{'ratio':>7}  {note:<21}{'':<6}"
        f"{'max |diff|':>11}  wall clips/s (wavetag / {peer})"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:<{case_width}}{r['ours']:>9,.0f}{r['peer']:>9,.0f}{r['ratio']:>6.2f}x  {r[note]:<21}"
            f"{r['verdict']:<6}{r['max_diff']:>11.1e}  {r['wall']}"
        )


def print_load(before: tuple[float, ...], after: tuple[float, ...]) -> None:
    print(
        f"load average (1/5/15 min) on {os.cpu_count()} cores: before {', '.join(f'{v:.2f}' for v in before)}; "
        f"after {', '.join(f'{v:.2f}' for v in after)}"
    )


if __name__ == "__main__":
    main()
