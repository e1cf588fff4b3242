"""Window logits for a live stream, each window computed once and only from the audio it needs.

`StreamingDetector` asks an engine for the logits of the windows that the newest audio has
completed (window ``k`` covers samples ``[k * hop, k * hop + window)``). Engines:

- **Incremental STFT** (`SpectralMember`), for a torch model whose front end is an STFT front end
  (logmel, logspec, spectrogram, mfcc) with ``center`` padding by zeros (or no centering), when the
  detection hop is a whole number of STFT hops. The STFT frames of the stream are computed once,
  as the audio arrives: a window's interior frames are the stream's frames. Only the frames whose
  support crosses a window's edge (2 + 2 of 101 for a 1-s logmel window: the ones the offline
  front end pads with zeros) are computed per window. The rest of the front end (mel, log,
  per-utterance normalisation) and the backbone then run on the window's frames, as offline:
  per-utterance normalisation and a CNN over the whole window are not shift-invariant, so the
  backbone cannot be carried over from the previous window. The logits equal the model's on the
  cut-out window (float rounding apart).
- **Whole windows** (`WindowMember`): the model on the cut-out window, once per window. Used for
  front ends whose output depends on the whole window in a way frames cannot be shared across:
  ``speech_embedding`` floors its dB mel at 80 dB below the *window's* maximum and pads the
  window with zeros, so no frame is the same in two windows; the waveform families; the ONNX
  backend (one graph from samples to logits).
- An ensemble runs one engine per member and combines their logits as the model does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wavetag.frontends import dsp
from wavetag.frontends.spectral import SpectralFrontEnd
from wavetag.models.ensemble import Ensemble, combine_logits


class WindowMember:
    """``forward(wav [n, 1, window]) -> logits [n, K]`` on cut-out windows."""

    kind = "whole windows"

    def __init__(self, forward, *, window: int, name: str) -> None:
        self.forward = forward
        self.window = window
        self.name = name

    def logits(self, buf: np.ndarray, buf_start: int, starts: list[int]) -> torch.Tensor:
        wav = np.stack([buf[s - buf_start : s - buf_start + self.window] for s in starts])
        return self.forward(torch.from_numpy(wav).unsqueeze(1))

    def keep_from(self, next_start: int) -> int:
        return next_start


class SpectralMember:
    """A `Classifier` with an STFT front end; see the module docstring. Build it with
    `SpectralMember.make`, which returns ``None`` where the model does not qualify."""

    kind = "incremental STFT"

    def __init__(self, model, *, window: int, hop: int) -> None:
        fe = model.frontend
        self.model, self.fe, self.window, self.name = model, fe, window, model.name
        self.n_fft, self.h = fe.n_fft, fe.config.hop_length
        self.half = self.n_fft // 2 if fe.config.center else 0
        self.frames = fe.output_shape(window)[-1]
        self.step = hop // self.h  # STFT frames per detection hop
        # frame j of the window at s spans [s + j*h - half, s + j*h - half + n_fft); outside the
        # window the offline front end sees zeros
        self.n_left = sum(1 for j in range(self.frames) if j * self.h - self.half < 0)
        self.n_right = sum(1 for j in range(self.frames) if j * self.h - self.half + self.n_fft > window)
        self.first_g = math.ceil(self.half / self.h)  # first stream frame that needs no sample before 0
        self.cache = torch.zeros(self.n_fft // 2 + 1, 0)  # (bins, frames) stream frames from cache_g
        self.cache_g = self.first_g
        self.next_g = self.first_g

    @classmethod
    def make(cls, model, *, window: int, hop: int) -> SpectralMember | None:
        fe = getattr(model, "frontend", None)
        if not isinstance(fe, SpectralFrontEnd) or not hasattr(model, "backbone") or not hasattr(model, "head"):
            return None
        c = fe.config
        if (c.center and c.pad_mode != "constant") or hop % c.hop_length or window < fe.n_fft:
            return None
        return cls(model, window=window, hop=hop)

    def _stft(self, segments: torch.Tensor) -> torch.Tensor:
        """STFT power of ``segments [n, L]``, frames every ``h`` from sample 0: ``[n, bins, frames]``."""
        return dsp.stft_power(
            segments,
            n_fft=self.n_fft,
            hop_length=self.h,
            window=self.fe.fft_window,
            center=False,
            power=self.fe.stft_power_exponent,
        )

    def _extend_cache(self, buf: np.ndarray, buf_start: int, end: int) -> None:
        """Compute the stream frames whose support ends at or before sample ``end``."""
        last = (end + self.half - self.n_fft) // self.h  # last frame g with g*h - half + n_fft <= end
        if last < self.next_g:
            return
        a = self.next_g * self.h - self.half - buf_start
        b = last * self.h - self.half + self.n_fft - buf_start
        power = self._stft(torch.from_numpy(buf[a:b]).unsqueeze(0))[0]  # (bins, new frames)
        self.cache = torch.cat([self.cache, power], dim=1)
        self.next_g = last + 1

    def logits(self, buf: np.ndarray, buf_start: int, starts: list[int]) -> torch.Tensor:
        w, h, half = self.window, self.h, self.half
        self._extend_cache(buf, buf_start, starts[-1] + w)
        wins = torch.from_numpy(np.stack([buf[s - buf_start : s - buf_start + w] for s in starts]))  # (n, W)
        parts = []
        if self.n_left:
            left = wins[:, : (self.n_left - 1) * h - half + self.n_fft]
            parts.append(self._stft(torch.nn.functional.pad(left, (half, 0))))
        first_inner = [s // h + self.n_left - self.cache_g for s in starts]
        inner = self.frames - self.n_left - self.n_right
        parts.append(torch.stack([self.cache[:, i : i + inner] for i in first_inner]))
        if self.n_right:
            j = self.frames - self.n_right
            right = wins[:, j * h - half :]
            pad = (self.frames - 1) * h - half + self.n_fft - w
            parts.append(self._stft(torch.nn.functional.pad(right, (0, pad))))
        power = torch.cat(parts, dim=2).contiguous()  # (n, bins, frames)
        features = self.fe.norm(self.fe.features(power))
        return self.model.forward_head(self.model.backbone(features))

    def keep_from(self, next_start: int) -> int:
        """Drop cached frames no future window needs; the first sample still needed."""
        keep_g = next_start // self.h + self.n_left
        if keep_g > self.cache_g:
            self.cache = self.cache[:, keep_g - self.cache_g :]
            self.cache_g = keep_g
        return min(next_start, self.next_g * self.h - self.half)


class Engine:
    """Logits ``[n, K]`` (numpy float32) of complete windows of a stream, one engine per member."""

    def __init__(self, predictor, *, hop: int, incremental: bool = True) -> None:
        window = predictor.window
        model = predictor.model if predictor.backend == "torch" else None
        self.combine: Any = None
        members: list = []
        if incremental and model is not None:
            if isinstance(model, Ensemble) and model.frontend.config.normalize == "none":
                members = [_member(m, window=window, hop=hop) for m in model.members]
                self.combine = model
            elif not isinstance(model, Ensemble):
                members = [_member(model, window=window, hop=hop)]
        if not members:  # the predictor's own forward (any backend)
            name = predictor.config.get("model", {}).get("name", "model")
            members = [
                WindowMember(lambda x: torch.from_numpy(predictor.logits(x[:, 0].numpy())), window=window, name=name)
            ]
        self.members = members

    @torch.inference_mode()
    def logits(self, buf: np.ndarray, buf_start: int, starts: list[int]) -> np.ndarray:
        out = [m.logits(buf, buf_start, starts).float() for m in self.members]
        if self.combine is not None:
            c = self.combine
            return combine_logits(torch.stack(out), c.weights, task=c.task, method=c.method).numpy()
        return out[0].numpy()

    def keep_from(self, next_start: int) -> int:
        return min(m.keep_from(next_start) for m in self.members)

    def describe(self) -> str:
        """One line: how each member's windows are computed."""
        return "; ".join(f"{m.name}: {m.kind}" for m in self.members)


def _member(model, *, window: int, hop: int):
    spectral = SpectralMember.make(model, window=window, hop=hop)
    if spectral is not None:
        return spectral
    return WindowMember(model, window=window, name=model.name)
