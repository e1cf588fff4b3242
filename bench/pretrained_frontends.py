"""The frozen pretrained front ends on one thread, against the engines their weights come from.

- ``speech_embedding`` (torch port) against openWakeWord's own path: ONNX Runtime running
  ``melspectrogram.onnx`` and ``embedding_model.onnx`` on the 76-frame windows, one clip per call
  (the mel file floors at the maximum of its whole input, so clips cannot share a call).
- ``whisper_encoder`` (torch port, tiny.en) against CTranslate2, the engine faster-whisper runs the
  same ``model.bin`` with, float32, on the same log-mel (the log-mel is wavetag's in both, so the
  encoder is what is compared), at the same batch.

Both on 1-s 16 kHz clips with the recipe's padding (0.25 s of zeros on both sides), wavetag at
batch 1 and 64. Each figure: clips per CPU-second of the measuring thread (``time.thread_time``),
best of several rounds lasting ``--seconds`` together (see bench/frontends.py for why), except
for the Whisper rows: CTranslate2 computes in its own worker thread, so both sides of those rows
are wall-clock clips/s (best round; on a shared machine run them when it is quiet). Wall-clock
rates and the load average are printed beside the table.

Target (issue 10): wavetag at batch 64 >= 0.5x the peer, so that porting the weights into the
model (one graph for training, predict, serve and the exported ONNX) costs at most 2x over the
peer's engine. The peer runs only inference; wavetag's port also trains heads and exports.

    OMP_NUM_THREADS=1 .venv/bin/python bench/pretrained_frontends.py --seconds 3
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontends import ROUNDS, clips_per_s, parse_seconds, print_load, print_table  # noqa: E402

SAMPLE_RATE = 16000
PAD_S = 0.25
RATIO_TARGET = 0.5


def speech_embedding_rows(clips: np.ndarray, seconds: float) -> list[dict]:
    import onnxruntime as ort

    from wavetag.frontends import create_frontend
    from wavetag.frontends.speech_embedding import EMBEDDING_FILE, MEL_FILE, find_model_dir

    fe = create_frontend("speech_embedding", pad_s=PAD_S).eval()
    folder = find_model_dir(None)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    mel = ort.InferenceSession(str(folder / MEL_FILE), options, providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(folder / EMBEDDING_FILE), options, providers=["CPUExecutionProvider"])
    pad = int(PAD_S * SAMPLE_RATE)

    def peer(clip: np.ndarray) -> np.ndarray:
        x = (np.pad(clip, pad) * 32768).astype(np.float32)[None]
        spec = np.squeeze(mel.run(None, {"input": x})[0]) / 10 + 2
        windows = np.stack([spec[i : i + 76] for i in range(0, spec.shape[0] - 75, 8)])
        return emb.run(None, {"input_1": windows[..., None].astype(np.float32)})[0].reshape(len(windows), 96)

    wav = torch.from_numpy(clips[:, None])
    with torch.inference_mode():
        diff = float(np.abs(fe(wav[:1])[0].numpy().T - peer(clips[0])).max())
        peer_rate = clips_per_s(lambda: peer(clips[0]), 1, seconds)
        return [
            _row(
                f"speech_embedding b{b}",
                clips_per_s(lambda b=b: fe(wav[:b]), b, seconds),
                peer_rate,
                "ONNX Runtime",
                diff,
            )
            for b in (1, len(clips))
        ]


def whisper_rows(clips: np.ndarray, seconds: float) -> list[dict]:
    import ctranslate2

    from wavetag.frontends import create_frontend
    from wavetag.frontends.whisper_encoder import find_model_file

    fe = create_frontend("whisper_encoder", pad_s=PAD_S).eval()
    ct2 = ctranslate2.models.Whisper(
        str(find_model_file(None).parent), device="cpu", compute_type="float32", intra_threads=1, inter_threads=1
    )
    wav = torch.from_numpy(clips[:, None])
    rows = []
    with torch.inference_mode():
        for b in (1, len(clips)):
            mel = fe.log_mel(wav[:b])
            view = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()))
            diff = float(np.abs(fe.encode(mel).numpy().transpose(0, 2, 1) - np.array(ct2.encode(view))).max())
            peer = clips_per_s(lambda view=view: ct2.encode(view), b, seconds, clock=time.perf_counter)
            ours = clips_per_s(lambda b=b: fe(wav[:b]), b, seconds, clock=time.perf_counter)
            rows.append(_row(f"whisper_encoder b{b}", ours, peer, "CTranslate2", diff))
    return rows


def _row(case: str, ours: tuple[float, float], peer: tuple[float, float], peer_name: str, diff: float) -> dict:
    return {
        "case": case,
        "ours": ours[0],
        "peer": peer[0],
        "peer engine": peer_name,
        "ratio": ours[0] / peer[0],
        "verdict": "PASS" if ours[0] >= RATIO_TARGET * peer[0] else "MISS",
        "max_diff": diff,
        "wall": f"{ours[1]:,.0f} / {peer[1]:,.0f}",
    }


def main() -> None:
    seconds = parse_seconds(__doc__)
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((64, SAMPLE_RATE))).astype(np.float32)
    rows = speech_embedding_rows(clips, seconds) + whisper_rows(clips, seconds)
    load_after = os.getloadavg()
    print(
        f"1 thread (torch {torch.__version__}), 1-s 16 kHz clips + {PAD_S:g} s of zeros on both sides; clips per "
        f"CPU-second, best of {ROUNDS} rounds in {seconds:g} s per figure; target: wavetag >= "
        f"{RATIO_TARGET:g}x the peer"
    )
    print_table(rows, peer="peer", note="peer engine", case_width=22)
    print_load(load_before, load_after)


if __name__ == "__main__":
    main()
