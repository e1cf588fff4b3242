"""Micro-batching: concurrent requests share one forward pass.

    request threads --wav [b_i, T]--> queue --worker thread: gather for up to window_ms or
      max_batch rows--> forward(concat [sum b_i, T]) -> [sum b_i, K] --split--> each caller

`MicroBatcher` is itself a ``forward``: a `Predictor` built on it (see `wavetag.serve.service`)
keeps all of its decoding, windowing and pooling, and only the model call is shared. The worker
waits for more rows only while other requests are active (`MicroBatcher.active`), so a lone
request pays no batching delay. A call with more rows than ``max_batch`` runs on its own.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np

from wavetag.config import check_range

_STOP = object()


class MicroBatcher:
    """``batcher(wav [b, T]) -> logits [b, K]``, blocking; thread-safe. ``forward`` runs on one
    worker thread, on batches of up to ``max_batch`` rows gathered for up to ``window_ms``."""

    def __init__(
        self, forward: Callable[[np.ndarray], np.ndarray], *, max_batch: int = 32, window_ms: float = 5.0
    ) -> None:
        check_range("max_batch", max_batch, 1, 1 << 16)
        check_range("batch_window_ms", window_ms, 0.0, 1000.0)
        self.forward = forward
        self.max_batch = int(max_batch)
        self.window_s = float(window_ms) / 1000.0
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = False
        self._active = 0
        self.batches = self.calls = self.rows = self.largest = 0

    # ------------------------------------------------------------------ callers

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        if self._closed:
            raise RuntimeError("the batcher is closed (the server is shutting down)")
        done: Future = Future()
        self._start()
        self._queue.put((wav, done))
        return done.result()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Mark a request as in progress (decoding, or about to call): the worker waits up to
        ``window_ms`` for rows from other active requests before it runs a batch."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def stats(self) -> dict[str, float]:
        """Counters since start: forward passes, calls batched, rows, largest batch, mean rows per pass."""
        with self._lock:
            return {
                "batches": self.batches,
                "calls": self.calls,
                "rows": self.rows,
                "largest_batch": self.largest,
                "mean_batch": round(self.rows / self.batches, 3) if self.batches else 0.0,
                "active_requests": self._active,
            }

    def close(self) -> None:
        """Finish the queued calls, then stop the worker."""
        self._closed = True
        if self._worker is not None:
            self._queue.put(_STOP)
            self._worker.join(timeout=10)
        while True:  # calls that raced with close: answer them rather than leave them waiting
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                item[1].set_exception(RuntimeError("the server is shutting down"))

    # ------------------------------------------------------------------ worker

    def _start(self) -> None:
        if self._worker is None:
            with self._lock:
                if self._worker is None:
                    self._worker = threading.Thread(target=self._loop, name="wavetag-batcher", daemon=True)
                    self._worker.start()

    def _loop(self) -> None:
        carry = None
        while True:
            first = carry if carry is not None else self._queue.get()
            if first is _STOP:
                return
            items, carry, stop = self._gather(first)
            self._run(items)
            if stop:
                return

    def _gather(self, first) -> tuple[list, object, bool]:
        """The items of one batch (from ``first`` on), the item held over for the next one, and
        whether a stop was seen."""
        items, rows = [first], len(first[0])
        deadline = time.monotonic() + self.window_s
        while rows < self.max_batch:
            wait = deadline - time.monotonic()
            try:
                if self._queue.qsize() == 0 and (wait <= 0 or self._active <= len(items)):
                    break  # nothing queued and nobody else is about to call
                item = self._queue.get(timeout=max(wait, 0.0)) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return items, None, True
            if rows + len(item[0]) > self.max_batch:
                return items, item, False
            items.append(item)
            rows += len(item[0])
        return items, None, False

    def _run(self, items: list) -> None:
        sizes = [len(wav) for wav, _ in items]
        try:
            out = self.forward(np.concatenate([wav for wav, _ in items]) if len(items) > 1 else items[0][0])
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of this batch
            for _, done in items:
                done.set_exception(exc)
            return
        with self._lock:
            self.batches += 1
            self.calls += len(items)
            self.rows += sum(sizes)
            self.largest = max(self.largest, sum(sizes))
        start = 0
        for (_, done), size in zip(items, sizes, strict=False):
            done.set_result(out[start : start + size])
            start += size
