"""Decode clips to int16 at the pack's rate, in parallel, streamed back in order.

`decode_stream` hands chunks of `ClipRef` to a process pool and yields the results in the order
of the input, keeping only a few chunks in flight, so memory stays bounded however many clips
there are. A file that cannot be used comes back as a `Rejected` with the reason; it never stops
the run.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from wavetag import audio
from wavetag.data.clips import ClipRef, Rejected
from wavetag.errors import AudioError

INT16_SCALE = 32768.0  # float sample 1.0 <-> int16 32768 (clipped to 32767)
MIN_CLIP_S = 0.1  # shorter clips are rejected
CHUNK_CLIPS = 64  # clips per task handed to a worker
CHUNK_BYTES = 8 << 20  # ... and at most this many bytes of source files per task
IN_FLIGHT_PER_JOB = 3  # chunks queued per worker: enough to keep it busy, few enough to bound memory


@dataclass(frozen=True)
class DecodeOptions:
    """How every clip is turned into the pack's samples."""

    sample_rate: int
    clip_samples: int | None = None  # pad/trim to this many samples; None keeps clips whole
    vad: bool = False
    min_samples: int = 0  # reject clips shorter than this (after VAD, before padding)
    source_sample_rate: int | None = None  # the rate of npz rows


@dataclass
class Decoded:
    """A decoded clip: int16 samples ``[T]`` and the rate it was stored at."""

    samples: np.ndarray
    orig_rate: int


Result = Decoded | Rejected


def to_int16(x: np.ndarray) -> np.ndarray:
    """float32 ``[-1, 1]`` -> int16 (``round(x * 32768)``, clipped); exact for int16-sourced audio."""
    y = np.multiply(x, INT16_SCALE, dtype=np.float32)
    np.rint(y, out=y)
    np.clip(y, -INT16_SCALE, INT16_SCALE - 1, out=y)
    return y.astype("<i2")


def finish_clip(x: np.ndarray, ref: ClipRef, orig_rate: int, opts: DecodeOptions) -> Result:
    """Resample, trim silence, check the length, pad/trim and quantise one decoded clip."""
    if orig_rate != opts.sample_rate:
        audio.check_resampled_length(ref.rel_path, len(x), orig_rate, opts.sample_rate)
        x = audio.resample(x, orig_rate, opts.sample_rate)
    if opts.vad:
        x = audio.trim_silence(x, opts.sample_rate, method="vad")
    if len(x) < opts.min_samples:
        after = " after --vad trimming" if opts.vad else ""
        return Rejected(
            ref.rel_path,
            "too short",
            (
                f"{ref.rel_path}: {len(x) / opts.sample_rate:.3f} s{after} (expected at least {MIN_CLIP_S:g} s = "
                f"{opts.min_samples:,} samples at {opts.sample_rate:,} Hz); the clip is empty or truncated"
            ),
        )
    if ref.gain != 1.0:
        x = x * np.float32(ref.gain)
    if opts.clip_samples:
        x = audio.pad_or_trim(x, opts.clip_samples)
    return Decoded(to_int16(x), orig_rate)


def decode_file(ref: ClipRef, opts: DecodeOptions) -> Result:
    """Decode one file (or a window of it); every failure becomes a `Rejected`."""
    try:
        if ref.duration_s is not None or ref.start_s:
            x, rate = audio.load(ref.path, sample_rate=opts.sample_rate, start_s=ref.start_s, duration_s=ref.duration_s)
        else:
            x, rate = audio.load(ref.path)
        return finish_clip(x, ref, rate, opts)
    except AudioError as exc:
        return Rejected(ref.rel_path, "unreadable", str(exc))
    except Exception as exc:  # a decoder bug on one odd file must not stop a 100k-file run
        return Rejected(ref.rel_path, "unreadable", f"{ref.rel_path}: {type(exc).__name__}: {exc}")


def decode_chunk(refs: Sequence[ClipRef], opts: DecodeOptions) -> list[Result]:
    """The task a worker runs: decode ``refs`` in order."""
    return [decode_file(ref, opts) for ref in refs]


def decode_rows(refs: Sequence[ClipRef], wav_vals: np.ndarray, opts: DecodeOptions) -> Iterator[Result]:
    """Decode rows of an npz ``wav_vals`` [N, T] (float in [-1, 1] or int16) at ``opts.source_sample_rate``."""
    for ref in refs:
        row = wav_vals[ref.row]
        x = row.astype(np.float32) / INT16_SCALE if row.dtype == np.int16 else row.astype(np.float32)
        if not np.isfinite(x).all():
            yield Rejected(
                ref.rel_path,
                "unreadable",
                f"{ref.rel_path}: NaN/Inf samples (expected finite values); fix or drop the row",
            )
            continue
        yield finish_clip(x, ref, int(opts.source_sample_rate), opts)


def chunk_refs(refs: Sequence[ClipRef], jobs: int) -> list[list[ClipRef]]:
    """Consecutive chunks of at most `CHUNK_CLIPS` clips / `CHUNK_BYTES` bytes, at least 4 per job."""
    per_chunk = max(1, min(CHUNK_CLIPS, math.ceil(len(refs) / (4 * jobs))))
    chunks, current, size = [], [], 0
    for ref in refs:
        if current and (len(current) >= per_chunk or size + ref.size > CHUNK_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(ref)
        size += ref.size
    if current:
        chunks.append(current)
    return chunks


def decode_stream(refs: Sequence[ClipRef], opts: DecodeOptions, *, jobs: int = 1) -> Iterator[tuple[ClipRef, Result]]:
    """Yield ``(ref, result)`` for every ref, in order, decoding with ``jobs`` processes.

    A worker that dies (a crash inside the decoder, or killed for memory) takes the pool with it:
    its chunk is then decoded again one file at a time (`decode_isolated`), so the one file that
    kills its process is rejected alone, and the other queued chunks go to a fresh pool.
    """
    chunks = chunk_refs(refs, jobs)
    if jobs <= 1 or len(chunks) < 2:
        for chunk in chunks:
            yield from zip(chunk, decode_chunk(chunk, opts), strict=False)
        return
    pending: deque[tuple[list[ClipRef], Future]] = deque()
    todo = iter(chunks)
    pool = _pool(jobs)
    try:
        for chunk in todo:
            pending.append((chunk, pool.submit(decode_chunk, chunk, opts)))
            if len(pending) >= jobs * IN_FLIGHT_PER_JOB:
                break
        while pending:
            chunk, future = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                results = decode_isolated(chunk, opts)
                pool = _pool(jobs)
                pending = deque((c, f if _finished(f) else pool.submit(decode_chunk, c, opts)) for c, f in pending)
            next_chunk = next(todo, None)
            if next_chunk is not None:
                pending.append((next_chunk, pool.submit(decode_chunk, next_chunk, opts)))
            yield from zip(chunk, results, strict=False)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def decode_isolated(refs: Sequence[ClipRef], opts: DecodeOptions) -> list[Result]:
    """Decode ``refs`` one at a time in a worker process, replacing the worker whenever one dies:
    the file it died on becomes a `Rejected` ("decoder crashed") and the others decode as usual."""
    results: list[Result] = []
    pool = _pool(1)
    try:
        for ref in refs:
            try:
                results.extend(pool.submit(decode_chunk, [ref], opts).result())
            except BrokenProcessPool:
                results.append(
                    Rejected(
                        ref.rel_path,
                        "decoder crashed",
                        (
                            f"{ref.rel_path}: the decoding process died on this file (a crash inside the decoder, or "
                            "killed for memory); it is left out and the run goes on; convert it "
                            "(e.g. ffmpeg -i IN -ar 16000 OUT.wav) or remove it"
                        ),
                    )
                )
                pool.shutdown(wait=True, cancel_futures=True)
                pool = _pool(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _pool(jobs: int) -> ProcessPoolExecutor:
    # Workers ignore Ctrl-C (it reaches the whole process group): the main process alone stops,
    # cancels what is queued and waits for the chunks in progress, so no worker dies holding a
    # queue lock and the pool never hangs.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_ignore_sigint)


def _finished(future: Future) -> bool:
    """Done with a result (kept when the pool breaks after it finished)."""
    return future.done() and not future.cancelled() and future.exception() is None


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def default_jobs() -> int:
    """Worker processes by default: the CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
