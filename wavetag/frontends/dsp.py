"""Functional DSP shared by the front ends: STFT power, mel and DCT matrices, deltas.

All functions are batched over leading axes and export to ONNX (opset 17) with the legacy
exporter: while exporting, the STFT becomes a strided convolution with a windowed DFT basis (the
exporter cannot carry complex tensors, and ONNX Runtime runs the convolution faster than its
STFT op).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from wavetag.errors import ConfigError

# Clips per torch.stft call. 16 one-second 16 kHz clips (3.3 MB of complex STFT) ran fastest on
# the 2-core Zen 4 box (logmel-40, 1 thread): 4-16 within 3 %, 24 -13 %, 32 -22 %.
STFT_CHUNK = 16
WINDOWS = ("hann", "hamming", "blackman", "rectangular")


def window_tensor(kind: str, win_length: int) -> torch.Tensor:
    """Periodic window of ``win_length`` samples (librosa ``get_window(kind, n, fftbins=True)``)."""
    if kind == "hann":
        return torch.hann_window(win_length, periodic=True)
    if kind == "hamming":
        return torch.hamming_window(win_length, periodic=True)
    if kind == "blackman":
        return torch.blackman_window(win_length, periodic=True)
    if kind == "rectangular":
        return torch.ones(win_length)
    raise ConfigError(f"window = {kind!r}; expected one of {', '.join(WINDOWS)}")


def num_frames(num_samples: int, *, n_fft: int, hop_length: int, center: bool) -> int:
    """STFT frame count for ``num_samples`` (torch/librosa convention)."""
    if center:
        return 1 + num_samples // hop_length
    if num_samples < n_fft:
        raise ConfigError(f"{num_samples} samples is shorter than one window (n_fft = {n_fft}) with center=False")
    return 1 + (num_samples - n_fft) // hop_length


def stft_power(
    wav: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
) -> torch.Tensor:
    """``|STFT|**power`` of ``wav [B, T]`` → ``[B, n_fft // 2 + 1, frames]``.

    ``window`` has ``win_length <= n_fft`` samples and is centred in the FFT frame, as in librosa
    (pass `centered_window` output to skip that step on every call). ``center`` pads
    ``n_fft // 2`` on both sides with ``pad_mode`` ("constant" = zeros, or "reflect"). Callers
    cut large batches into chunks of `STFT_CHUNK` clips. The result is a transposed view of
    time-major memory: multiply it from the right (``power.mT @ W.T``) to keep the mel/DCT
    products one GEMM.
    """
    if center:
        pad = n_fft // 2
        if pad_mode == "constant":
            wav = F.pad(wav, (pad, pad))
        else:
            wav = F.pad(wav.unsqueeze(1), (pad, pad), mode=pad_mode).squeeze(1)
    window = centered_window(window, n_fft)
    if exporting():
        return _power_by_dft_conv(wav, n_fft, hop_length, window, power)
    return _power_time_major(wav, n_fft, hop_length, window, power).transpose(1, 2)


def centered_window(window: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``window`` zero-padded on both sides to ``n_fft`` samples (librosa ``util.pad_center``)."""
    if window.numel() >= n_fft:
        return window
    left = (n_fft - window.numel()) // 2
    return F.pad(window, (left, n_fft - window.numel() - left))


def _power_time_major(wav: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor, power: float) -> torch.Tensor:
    """Power ``[B, frames, bins]``: torch.stft's own memory order, so no copy is made."""
    spec = torch.stft(wav, n_fft, hop, n_fft, window=window, center=False, return_complex=True).transpose(1, 2)
    # square the interleaved (re, im) pairs in one contiguous pass, then add the halves: two
    # passes over memory instead of three (re², im², their sum over strided views)
    squares = torch.view_as_real(spec).square()  # (B, frames, bins, 2)
    mag2 = squares[..., 0] + squares[..., 1]
    return mag2 if power == 2.0 else mag2.pow(power / 2.0)


def dft_kernel(window: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Windowed DFT basis as conv1d weights ``[2 * (n_fft // 2 + 1), 1, n_fft]``: cosines, then
    minus sines (the real and imaginary parts of ``rfft``)."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    angle = 2 * np.pi * k * n / n_fft
    with warnings.catch_warnings():  # while tracing: the basis is meant to be a constant of the graph
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        w = window.detach().cpu().double().numpy()
        basis = np.concatenate([np.cos(angle) * w, -np.sin(angle) * w]).astype(np.float32)
        return torch.from_numpy(basis).unsqueeze(1)


def _power_by_dft_conv(wav: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor, power: float) -> torch.Tensor:
    """The STFT power as a strided convolution with `dft_kernel` (what ONNX export uses: ONNX
    Runtime runs it faster than its STFT op and it works for any n_fft). ``[B, bins, frames]``."""
    bins = n_fft // 2 + 1
    spec = F.conv1d(wav.unsqueeze(1), dft_kernel(window, n_fft), stride=hop)  # (B, 2 * bins, frames)
    real, imag = spec[:, :bins], spec[:, bins:]
    mag2 = real * real + imag * imag
    return mag2 if power == 2.0 else mag2.pow(power / 2.0)


def exporting() -> bool:
    """True while tracing for ONNX/TorchScript (shapes must stay symbolic there)."""
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


def mel_matrix(
    *, sample_rate: int, n_fft: int, n_mels: int, f_min_hz: float, f_max_hz: float | None, htk: bool = False
) -> torch.Tensor:
    """Mel filterbank ``[n_mels, n_fft // 2 + 1]`` (librosa ``filters.mel``, Slaney norm)."""
    import librosa

    f_max = sample_rate / 2 if f_max_hz is None else f_max_hz
    if not 0 <= f_min_hz < f_max <= sample_rate / 2:
        raise ConfigError(
            f"f_min_hz = {f_min_hz}, f_max_hz = {f_max}; expected 0 <= f_min_hz < f_max_hz <= {sample_rate / 2:g} "
            "(Nyquist)"
        )
    fb = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min_hz, fmax=f_max, htk=htk, norm="slaney"
    )
    if (fb.sum(axis=1) == 0).any():
        empty = int((fb.sum(axis=1) == 0).sum())
        raise ConfigError(
            f"n_mels = {n_mels} with n_fft = {n_fft} at {sample_rate} Hz leaves {empty} empty mel bands; "
            f"use fewer mels or a larger n_fft"
        )
    return torch.from_numpy(fb.astype(np.float32))


def dct_matrix(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """Orthonormal DCT-II basis ``[n_mfcc, n_mels]`` (scipy ``dct(type=2, norm="ortho")``)."""
    import scipy.fft

    if not 1 <= n_mfcc <= n_mels:
        raise ConfigError(f"n_mfcc = {n_mfcc}; expected 1 <= n_mfcc <= n_mels = {n_mels}")
    basis = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return torch.from_numpy(basis.astype(np.float32))


def power_to_db(power: torch.Tensor, *, amin: float = 1e-10, top_db: float | None = 80.0) -> torch.Tensor:
    """``10 log10(max(power, amin))``, floored at ``top_db`` below each clip's maximum.

    ``power`` is ``[B, ..., F, frames]``; the maximum is taken per clip (librosa does it per call).
    """
    db = torch.log10(torch.clamp(power, min=amin)).mul_(10.0)
    if top_db is not None:
        peak = db.amax(dim=tuple(range(1, db.dim())), keepdim=True)  # (B, 1, ..., 1)
        db = torch.maximum(db, peak - top_db)
    return db


def savgol_kernel(width: int, order: int) -> torch.Tensor:
    """Savitzky-Golay derivative kernel (``scipy.signal.savgol_coeffs``, as librosa ``delta``)."""
    import scipy.signal

    if width < 3 or width % 2 == 0:
        raise ConfigError(f"delta_width = {width}; expected an odd number >= 3")
    coeffs = scipy.signal.savgol_coeffs(width, polyorder=order, deriv=order, delta=1.0, use="conv")
    return torch.from_numpy(coeffs.astype(np.float32))


def apply_delta(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Time derivative of ``x [B, F, frames]`` (librosa ``delta(mode="nearest")``)."""
    b, f, n = x.shape
    half = kernel.numel() // 2
    padded = F.pad(x.reshape(b * f, 1, n), (half, half), mode="replicate")
    return F.conv1d(padded, kernel.flip(0).view(1, 1, -1)).reshape(b, f, n)


def next_pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(n)))
