"""Streaming detection cost and live serving. Not a test: the figures depend on the machine and on
what else runs on it, so the load average is printed beside them.

    python bench/streaming.py --model-dir runs/kws/best --pack runs/kws/pack      # a test stream of the pack
    python bench/streaming.py --model-dir runs/kws/best --audio long.wav --ws      # + 8 WebSocket streams
    python bench/streaming.py                 # the kws recipe's architecture, untrained, on synthetic audio
    python bench/streaming.py --recipe kws_light   # the light recipe's (for small devices)
    python bench/streaming.py --model-dir runs/kws/best --audio long.wav --also ds_cnn_s bc_resnet_3

Part 1, cost (one thread, ``torch.set_num_threads(1)``): CPU seconds per second of 16-kHz audio
(the real-time factor) of `StreamingDetector` fed 100-ms chunks, per way of computing the windows:
the incremental engine (STFT front ends computed once per hop, the rest per window), whole windows
through torch, and whole windows through ONNX Runtime; and of offline ``detect`` on the same file.
Target: RTF <= 0.02, with events identical to offline ``detect`` (same labels and times; scores
within 1e-4). ``kws_light`` (the recipe for small devices and cheap streaming) meets it; ``kws``
(Whisper's encoder on every whole window) measured 0.059 and misses it 3x (README "Benchmarks").
Without ``--model-dir`` the architecture of ``--recipe`` (default kws) is built with random
weights: its cost is the trained model's, but it hardly ever fires, so the event comparison needs
a trained model.

Part 2, ``--ws``: ``wavetag serve`` in its own process, ``--ws-streams`` clients (default 8) each
streaming ``--ws-seconds`` (default 60) of the audio over ``/v1/stream`` in real time, 100-ms
int16 frames. Targets: no dropped chunk (the server's count of frames and bytes equals what was
sent), events within 300 ms of the offline times, and each firing delivered within 300 ms of the
moment the audio that completed its window was sent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RTF = 0.02
TARGET_WS_MS = 300.0
CHUNK_S = 0.1
SCORE_TOLERANCE = 1e-4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, help="A trained model (default: --recipe's architecture, untrained).")
    parser.add_argument("--recipe", default="kws", help="No --model-dir: whose architecture to time (kws, kws_light).")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--audio", type=Path, help="A long recording to stream.")
    source.add_argument("--pack", type=Path, help="Build a test stream from this pack's test split.")
    parser.add_argument("--minutes", type=float, default=3.0, help="--pack / synthetic: minutes of audio.")
    parser.add_argument("--threshold", type=float, default=None, help="One threshold for every class.")
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        help="Models to time beside it, untrained, on 40 log-mels (e.g. ds_cnn_s bc_resnet_3): what meets the target.",
    )
    parser.add_argument("--ws", action="store_true", help="Also run the WebSocket part.")
    parser.add_argument("--ws-streams", type=int, default=8)
    parser.add_argument("--ws-seconds", type=float, default=60.0)
    parser.add_argument("--ws-backend", default="onnx", help="The server's backend (torch or onnx).")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="wavetag-bench-streaming-"))
    model_dir = args.model_dir or untrained_recipe(args.recipe, work / "model")
    audio_path = args.audio or (
        test_stream(args.pack, work / "streams", args.minutes) if args.pack else synthetic(work, args.minutes)
    )
    threshold = args.threshold
    print(f"model {model_dir}; audio {audio_path}; load average {os.getloadavg()[0]:.2f} (1 min)")
    events = cost(model_dir, audio_path, threshold)
    if args.also:
        architectures(args.also, audio_path, work)
    if args.ws:
        serve_streams(model_dir, audio_path, events, threshold, args)
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")


# ---------------------------------------------------------------------------- inputs


def untrained_recipe(name: str, out: Path) -> Path:
    """Recipe ``name``'s model with random weights (its cost is the architecture's)."""
    from wavetag.models import create_model
    from wavetag.models.io import save_model_dir
    from wavetag.train.recipes import recipe as recipe_config

    recipe = recipe_config(name)
    labels = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
    model = create_model(
        recipe["model"], num_classes=len(labels), frontend=recipe["frontend"], **recipe.get("model_args", {})
    )
    save_model_dir(model, out, extra={"labels": labels})
    print(f"no --model-dir: the {name} recipe's architecture with random weights (timing only; it hardly ever fires)")
    return out


def test_stream(pack: Path, out: Path, minutes: float) -> Path:
    from wavetag.inference.streams import build_streams

    build_streams(pack, out, split="test", minutes=minutes, seed=0, file_minutes=minutes)
    return sorted(out.glob("*.wav"))[0]


def synthetic(work: Path, minutes: float) -> Path:
    """Pink noise with 0.4-s chirps every ~1.5 s, 16 kHz."""
    import soundfile as sf

    from wavetag.data.synth.noise import coloured_noise

    rng = np.random.default_rng(0)
    rate = 16000
    x = 0.05 * coloured_noise(int(minutes * 60 * rate), exponent=-1.0, rng=rng, sample_rate=rate)
    t = np.arange(int(0.4 * rate)) / rate
    for start in np.arange(0.5, minutes * 60 - 1, 1.5):
        f0 = rng.uniform(300, 1500)
        a = int(start * rate)
        x[a : a + len(t)] += 0.3 * np.sin(2 * np.pi * (f0 * t + 400 * t**2))
    path = work / "synthetic.wav"
    sf.write(path, x.astype(np.float32), rate, subtype="PCM_16")
    return path


# ---------------------------------------------------------------------------- part 1: cost


def cost(model_dir: Path, audio_path: Path, threshold: float | None) -> list:
    from wavetag import audio as audio_io
    from wavetag.inference.predictor import Predictor
    from wavetag.inference.streaming import StreamingDetector

    torch_p = Predictor.load(model_dir, threads=1)
    onnx_p = Predictor.load(model_dir, backend="onnx", threads=1)
    x, _ = audio_io.load(audio_path, sample_rate=torch_p.sample_rate)
    seconds = len(x) / torch_p.sample_rate
    torch_p.logits(np.zeros((1, torch_p.window), np.float32))  # warm-up
    t0 = time.process_time()
    offline = torch_p.detect(x, sample_rate=torch_p.sample_rate, thresholds=threshold)
    offline_cpu = time.process_time() - t0
    chunk = int(CHUNK_S * torch_p.sample_rate)
    print(f"\n{seconds:.0f} s of audio at {torch_p.sample_rate} Hz, {CHUNK_S * 1000:.0f}-ms chunks, 1 thread")
    print(f"{'way':<44} {'RTF':>8} {'target':>7} {'events':>7}  identical to offline detect")
    print(
        f"{'offline detect (torch, batches of 64 windows)':<44} {offline_cpu / seconds:8.4f} {'':>7} {len(offline):7d}"
    )
    runs = [
        ("streaming, incremental engine (torch)", torch_p, True),
        ("streaming, whole windows (torch)", torch_p, False),
        ("streaming, whole windows (ONNX Runtime)", onnx_p, True),
    ]
    for name, predictor, incremental in runs:
        det = StreamingDetector(predictor, thresholds=threshold, incremental=incremental, batch_size=64)
        events = []
        for i in range(0, len(x), chunk):
            events += det.push(x[i : i + chunk])
        events += det.flush()
        same, detail = identical(offline, events)
        mark = "met" if det.real_time_factor <= TARGET_RTF else "MISSED"
        print(
            f"{name:<44} {det.real_time_factor:8.4f} {'<=' + str(TARGET_RTF):>7} {len(events):7d}  "
            f"{'yes' if same else 'NO: ' + detail}  ({mark}; {det.engine.describe()})"
        )
    members = getattr(torch_p.model, "members", None)
    if members is not None:
        print("per member (incremental engine, torch, 1 thread):")
        for m in members:
            p = Predictor.from_model(m, labels=torch_p.labels)
            det = StreamingDetector(p, thresholds=0.5, batch_size=64)
            for i in range(0, len(x), chunk):
                det.push(x[i : i + chunk])
            det.flush()
            macs = m.macs() / 1e6
            print(f"  {m.name:<20} RTF {det.real_time_factor:.4f}  ({det.engine.describe()}; {macs:.1f} M MACs/window)")
    return offline


def architectures(names: list[str], audio_path: Path, work: Path) -> None:
    """RTF of untrained models on 40 log-mels with per-utterance normalisation (the kws recipes'
    front end), streamed in 100-ms chunks: torch incremental and ONNX Runtime whole windows."""
    from wavetag import audio as audio_io
    from wavetag.inference.predictor import Predictor
    from wavetag.inference.streaming import StreamingDetector
    from wavetag.models import create_model
    from wavetag.models.io import save_model_dir

    labels = [f"class_{i}" for i in range(12)]
    x, _ = audio_io.load(audio_path, sample_rate=16000)
    print("\nother architectures (untrained, 12 classes, 40 log-mels, 1 thread):")
    print(f"  {'model':<20} {'M MACs/window':>14} {'RTF torch':>10} {'RTF ONNX':>9}  target <= {TARGET_RTF}")
    for name in names:
        model = create_model(name, num_classes=12, frontend={"name": "logmel", "normalize": "utterance"})
        model_dir = save_model_dir(model, work / f"also-{name}", extra={"labels": labels})
        rtf = []
        for backend in ("torch", "onnx"):
            det = StreamingDetector(Predictor.load(model_dir, backend=backend, threads=1), thresholds=0.5)
            for i in range(0, len(x), int(CHUNK_S * 16000)):
                det.push(x[i : i + int(CHUNK_S * 16000)])
            det.flush()
            rtf.append(det.real_time_factor)
        mark = "met" if min(rtf) <= TARGET_RTF else "missed"
        print(f"  {name:<20} {model.macs() / 1e6:14.1f} {rtf[0]:10.4f} {rtf[1]:9.4f}  {mark}")


def identical(offline: list, live: list) -> tuple[bool, str]:
    live = sorted(live, key=lambda e: (e.start_s, e.label))
    if len(live) != len(offline):
        return False, f"{len(live)} events against {len(offline)}"
    for a, b in zip(offline, live, strict=True):
        da, db = a.to_dict(), b.to_dict()
        if abs(da.pop("score") - db.pop("score")) > SCORE_TOLERANCE or da != db:
            return False, f"{a} against {b}"
    return True, ""


# ---------------------------------------------------------------------------- part 2: WebSockets


def serve_streams(model_dir: Path, audio_path: Path, offline_all: list, threshold: float | None, args) -> None:
    from websockets.sync.client import connect

    from wavetag import audio as audio_io
    from wavetag.inference.predictor import Predictor
    from wavetag.serve.server import free_port

    predictor = Predictor.load(model_dir, threads=1)
    rate = predictor.sample_rate
    x, _ = audio_io.load(audio_path, sample_rate=rate)
    x = x[: int(args.ws_seconds * rate)]
    data = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    offline = predictor.detect(np.frombuffer(data, "<i2") / 32768.0, sample_rate=rate, thresholds=threshold)
    port = free_port()
    command = [sys.executable, "-m", "wavetag", "serve", str(model_dir), "--port", str(port)]
    command += ["--backend", args.ws_backend, "--threads", "1", "--no-access-log", "--max-streams", "64"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(port, server)
        query = f"sample_rate={rate}&format=s16le" + (f"&threshold={threshold}" if threshold is not None else "")
        results: list[dict] = [{} for _ in range(args.ws_streams)]
        frame = int(CHUNK_S * rate) * 2

        def client(i: int) -> None:
            r = results[i]
            sent_at: list[float] = []
            fires, events = [], []
            with connect(f"ws://127.0.0.1:{port}/v1/stream?{query}", max_size=None) as ws:
                json.loads(ws.recv())

                def reader() -> None:
                    for message in ws:
                        m = json.loads(message)
                        if m["type"] == "fire":
                            fires.append((m, time.monotonic()))
                        elif m["type"] == "event":
                            events.append(m)
                        elif m["type"] in ("end", "error"):
                            r["end"] = m

                listener = threading.Thread(target=reader)
                listener.start()
                start = time.monotonic()
                for k, pos in enumerate(range(0, len(data), frame)):
                    time.sleep(max(0.0, start + k * CHUNK_S - time.monotonic()))  # real time
                    ws.send(data[pos : pos + frame])
                    sent_at.append(time.monotonic())
                ws.send(json.dumps({"type": "end"}))
                listener.join(timeout=60)
            r.update(sent_frames=len(sent_at), sent_bytes=len(data), events=events, fires=fires, sent_at=sent_at)

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.ws_streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
    finally:
        server.terminate()
        server.wait(timeout=30)
    report_ws(results, offline, rate, wall, args)


def report_ws(results: list[dict], offline: list, rate: int, wall: float, args) -> None:
    dropped, time_errors, delays, mismatched = 0, [], [], 0
    for r in results:
        end = r.get("end", {})
        if end.get("type") != "end" or end.get("frames") != r["sent_frames"] or end.get("bytes") != r["sent_bytes"]:
            dropped += 1
        live = sorted(r["events"], key=lambda e: (e["start_s"], e["label"]))
        if len(live) != len(offline):
            mismatched += 1
        for a, b in zip(offline, live, strict=False):
            if a.label != b["label"]:
                mismatched += 1
                continue
            time_errors.append(max(abs(a.start_s - b["start_s"]), abs(a.fired_s - b["fired_s"])) * 1000)
        for m, received in r["fires"]:  # the frame holding the window's last sample was sent at...
            k = min(len(r["sent_at"]) - 1, int(np.ceil(m["fired_s"] / CHUNK_S)) - 1)
            delays.append((received - r["sent_at"][max(0, k)]) * 1000)
    n = args.ws_streams
    print(f"\n{n} WebSocket streams x {args.ws_seconds:.0f} s in real time ({args.ws_backend} server, 1 thread)")
    print(f"  wall time                 {wall:.1f} s")
    print(f"  streams with dropped data {dropped} of {n}   (target 0)")
    print(f"  streams whose events differ from offline {mismatched}   ({len(offline)} offline events)")
    worst = max(time_errors, default=0.0)
    print(f"  event times vs offline    max {worst:.1f} ms   (target <= {TARGET_WS_MS:.0f} ms)")
    if delays:
        d = np.array(delays)
        print(
            f"  firing delivered after    median {np.median(d):.0f} ms, p95 {np.percentile(d, 95):.0f} ms, "
            f"max {d.max():.0f} ms   (target <= {TARGET_WS_MS:.0f} ms; {len(d)} firings)"
        )
    ok = dropped == 0 and mismatched == 0 and worst <= TARGET_WS_MS and (not delays or max(delays) <= TARGET_WS_MS)
    print(f"  targets {'met' if ok else 'MISSED'}")


def wait_for(port: int, server: subprocess.Popen) -> None:
    import http.client

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"wavetag serve exited: {server.stderr.read()}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("wavetag serve did not start within 120 s")


if __name__ == "__main__":
    main()
