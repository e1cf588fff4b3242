"""Load on ``wavetag serve`` from a second process: concurrent clients on 127.0.0.1, each sending its
next request when its last one is answered (a bounded, closed-loop load). Not a test: the figures
depend on the machine and on what else runs on it, so the load average is printed beside them.

    python bench/serve.py                          # builds bc_resnet_1 on a tiny tone pack first
    python bench/serve.py --model-dir runs/kws/best --backends onnx --clients 16 --requests 1000

Targets (bc_resnet_1, 2 cores, 16 clients, 1,000 requests of 1-s clips at 16 kHz): 0 errors and
p99 latency < 100 ms. Then a bounded abuse phase (``--abuse-requests``, default 200): the same good
load runs while 4 more clients send garbage, 12-MB uploads, oversized chunked bodies, malformed
multipart, empty bodies, wrong Content-Types and stalled slow uploads. Targets: 0 answers of 5xx
to the abuse, 0 errors among the good requests. The server is `wavetag serve` in its own process
(the command a user runs), once per backend; the clients are threads of this process, each on its
own keep-alive connection (the standard library's http.client, so the load generator leaves the cores to the server),
sending 1-s 16-bit WAV files as the raw body. Each request names itself (``?filename=``) and the
answer must name the same request: answers mixed up between batched requests count as errors.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_P99_MS = 100.0
TARGET_ERRORS = 0
SAMPLE_RATE = 16000
CLIP_S = 1.0
TONES_HZ = (400.0, 1000.0, 2500.0, 5000.0)  # the bench model's classes


ABUSE_CLIENTS = 4
SLOW_UPLOADS = 16  # connections that send their headers and a few bytes, then stall until the end


@dataclass
class Abuse:
    good_latencies_ms: np.ndarray
    good_errors: list[str]
    statuses: dict[int, int]  # abuse answers by HTTP status (0 = the server closed the connection)


@dataclass
class Run:
    backend: str
    latencies_ms: np.ndarray
    errors: list[str]
    wall_s: float
    forward_passes: int
    batched_calls: int
    server_cpu_s: float
    client_cpu_s: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    abuse: Abuse | None = None


# ---------------------------------------------------------------------------- the model


def build_model(root: Path) -> Path:
    """bc_resnet_1 trained for 2 epochs on a tiny tone pack at 16 kHz (1-s clips). Its accuracy
    is beside the point: the latency target is about the model's size."""
    import soundfile as sf

    from wavetag.config import config_from_dict
    from wavetag.data import prepare
    from wavetag.train import TrainConfig, train

    rng = np.random.default_rng(0)
    for freq in TONES_HZ:
        folder = root / "src" / f"tone_{int(freq)}"
        folder.mkdir(parents=True)
        for i in range(12):
            sf.write(folder / f"spk{i % 4}_nohash_{i}.wav", clip(freq, rng), SAMPLE_RATE, subtype="PCM_16")
    prepare(root / "src", root / "pack", sample_rate=SAMPLE_RATE, clip_seconds=CLIP_S, jobs=1, progress=False)
    off = {k: {"p": 0.0} for k in ("time_shift", "speed", "gain", "background_noise", "colored_noise", "spec_augment")}
    config = config_from_dict(
        TrainConfig,
        {
            "model": "bc_resnet_1",
            "epochs": 2,
            "batch_size": 16,
            "threads": 1,
            "tensorboard": False,
            "frontend": {"normalize": "none"},
            "augment": off,
        },
    )
    train(root / "pack", config, root / "run", progress=False, verbose=False)
    return root / "run" / "best"


def clip(freq_hz: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * CLIP_S)) / SAMPLE_RATE
    x = 0.3 * np.sin(2 * np.pi * freq_hz * rng.uniform(0.95, 1.05) * t) + 0.02 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def wav_bytes(x: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# ---------------------------------------------------------------------------- server and load


def start_server(model_dir: Path, port: int, *, backend: str, threads: int, extra: list[str]) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "wavetag",
        "serve",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend",
        backend,
        "--threads",
        str(threads),
        "--no-access-log",
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with code {server.returncode}:\n{server.stdout.read()}")
        try:
            get_json(port, "/health")
            return
        except (OSError, ValueError):
            time.sleep(0.2)
    sys.exit(f"the server did not answer http://127.0.0.1:{port}/health within {timeout_s:.0f} s")


def drive(port: int, bodies: list[bytes], *, clients: int, requests: int) -> tuple[list[float], list[str], float]:
    """``requests`` POSTs shared by ``clients`` threads; returns (latencies in s, errors, wall s)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(requests))  # shared: each request number is handed out once
    start = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        for i in next_index:
            name = f"request-{i}.wav"
            t = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    f"/v1/classify?filename={name}",
                    body=bodies[i % len(bodies)],
                    headers={"Content-Type": "audio/wav"},
                )
                answer = conn.getresponse()
                text = answer.read()
                error = None if answer.status == 200 else f"HTTP {answer.status}: {text[:200]!r}"
                if error is None and json.loads(text)["source"] != name:
                    error = f"answer for {json.loads(text)['source']} returned to {name}"
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if error:
                    errors.append(error)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - t0


def abuse_payloads(good: bytes) -> list[tuple[str, dict, bytes]]:
    """(name, headers, body) of each kind of bad request the abuse clients cycle through."""
    rng = np.random.default_rng(2)
    garbage = rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    boundary = "benchboundary"
    return [
        ("garbage", {"Content-Type": "application/octet-stream"}, garbage),
        ("12 MB", {"Content-Type": "audio/wav"}, good + bytes(12 << 20)),
        ("empty", {"Content-Type": "audio/wav"}, b""),
        ("wrong type", {"Content-Type": "text/html"}, good),
        ("truncated", {"Content-Type": "audio/wav"}, good[:60]),
        (
            "multipart without closing",
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="../../x.wav"\r\n\r\n'.encode()
            + good,
        ),
        ("multipart without boundary", {"Content-Type": "multipart/form-data"}, garbage[:1000]),
    ]


def abuse(port: int, bodies: list[bytes], *, clients: int, requests: int) -> Abuse:
    """Good load from ``clients`` while `ABUSE_CLIENTS` send bad requests and `SLOW_UPLOADS` stall."""
    import socket

    payloads = abuse_payloads(bodies[0])
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    done = threading.Event()
    slow = []
    for _ in range(SLOW_UPLOADS):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
            b"Content-Length: %d\r\n\r\n" % len(bodies[0]) + bodies[0][:100]
        )
        slow.append(s)

    def abuser(k: int) -> None:
        i = k
        while not done.is_set():
            name, headers, body = payloads[i % len(payloads)]
            i += ABUSE_CLIENTS
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/v1/classify?filename=abuse", body=body, headers=headers)
                status = conn.getresponse().status
            except (OSError, http.client.HTTPException):
                status = 0  # refused mid-upload: the server answered early and closed
            finally:
                conn.close()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=abuser, args=(k,)) for k in range(ABUSE_CLIENTS)]
    for t in threads:
        t.start()
    try:
        latencies, errors, _ = drive(port, bodies, clients=clients, requests=requests)
    finally:
        done.set()
        for t in threads:
            t.join()
        for s in slow:
            s.close()
    return Abuse(np.asarray(latencies) * 1e3, errors, statuses)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(model_dir: Path, backend: str, args, bodies: list[bytes]) -> tuple[Run, dict]:
    from wavetag.serve.server import free_port

    port = free_port()
    server = start_server(model_dir, port, backend=backend, threads=args.server_threads, extra=args.server_arg)
    try:
        wait_ready(port, server)
        info = get_json(port, "/v1/model")
        drive(port, bodies, clients=args.clients, requests=args.warmup)
        before = get_json(port, "/health")["batching"]
        load_before, cpu_before = os.getloadavg(), (cpu_seconds(server.pid), time.process_time())
        latencies, errors, wall = drive(port, bodies, clients=args.clients, requests=args.requests)
        cpu = (cpu_seconds(server.pid) - cpu_before[0], time.process_time() - cpu_before[1])
        load_after = os.getloadavg()
        after = get_json(port, "/health")["batching"]
        abused = (
            abuse(port, bodies, clients=args.clients, requests=args.abuse_requests) if args.abuse_requests else None
        )
        if abused is not None:
            get_json(port, "/health")  # still answering
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    run = Run(
        backend,
        np.asarray(latencies) * 1e3,
        errors,
        wall,
        after["batches"] - before["batches"],
        after["calls"] - before["calls"],
        cpu[0],
        cpu[1],
        load_before,
        load_after,
        abused,
    )
    return run, info


# ---------------------------------------------------------------------------- report


def report(runs: list[Run], info: dict, args) -> None:
    print(
        f"\nwavetag serve: {info['name']} ({info['num_params']:,} parameters), {args.server_threads} model thread(s), "
        f"on 127.0.0.1; {args.clients} clients, {args.requests} requests of {CLIP_S:g}-s clips at {SAMPLE_RATE} Hz; "
        f"{os.cpu_count()} cores"
    )
    print(
        f"{'backend':8} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} "
        f"{'req/pass':>8} {'server CPU/req':>14} {'client CPU/req':>14}  load avg before -> after"
    )
    for r in runs:
        p50, p90, p99 = np.percentile(r.latencies_ms, [50, 90, 99])
        n = len(r.latencies_ms)
        print(
            f"{r.backend:8} {n / r.wall_s:7.1f} {p50:7.1f} {p90:7.1f} {p99:7.1f} {r.latencies_ms.max():7.1f} "
            f"{len(r.errors):6d} {r.batched_calls / max(r.forward_passes, 1):8.2f} {1e3 * r.server_cpu_s / n:11.2f} ms "
            f"{1e3 * r.client_cpu_s / n:11.2f} ms  {r.load_before[0]:.2f} -> {r.load_after[0]:.2f}"
        )
    for r in runs:
        p99 = float(np.percentile(r.latencies_ms, 99))
        print(
            f"targets, {r.backend}: errors {len(r.errors)} [target {TARGET_ERRORS}: "
            f"{'met' if len(r.errors) <= TARGET_ERRORS else 'MISSED'}], p99 {p99:.1f} ms "
            f"[target < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'MISSED'}]"
        )
        if r.errors:
            print("  first errors:\n    " + "\n    ".join(r.errors[:5]))
    for r in runs:
        if r.abuse is None:
            continue
        a = r.abuse
        server_errors = sum(n for status, n in a.statuses.items() if status >= 500)
        p99 = float(np.percentile(a.good_latencies_ms, 99)) if len(a.good_latencies_ms) else float("nan")
        shown = ", ".join(f"{'closed' if s == 0 else s}: {n}" for s, n in sorted(a.statuses.items()))
        print(
            f"abuse, {r.backend}: {sum(a.statuses.values())} bad requests ({shown}) + {SLOW_UPLOADS} stalled uploads "
            f"beside {len(a.good_latencies_ms)} good ones (p99 {p99:.1f} ms); 5xx {server_errors} [target 0: "
            f"{'met' if server_errors == 0 else 'MISSED'}], good errors {len(a.good_errors)} [target 0: "
            f"{'met' if not a.good_errors else 'MISSED'}]"
        )
        if a.good_errors:
            print("  first errors:\n    " + "\n    ".join(a.good_errors[:5]))
    print(
        f"load average (1/5/15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; on a shared machine "
        "the latencies grow with it (the server gets fewer of the cores)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="model to serve [default: build bc_resnet_1 on a tone pack]")
    parser.add_argument(
        "--backends",
        default="onnx,torch",
        help="comma-separated 'wavetag serve --backend' values, each benchmarked in turn (default onnx,torch)",
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per backend (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests first (default 50)")
    parser.add_argument(
        "--abuse-requests",
        type=int,
        default=200,
        help="good requests timed during the abuse phase; 0 skips it (default 200)",
    )
    parser.add_argument("--server-threads", type=int, default=1, help="model threads in the server (default 1)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra 'wavetag serve' option, repeatable")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    bodies = [wav_bytes(clip(freq, rng)) for freq in TONES_HZ for _ in range(4)]
    with tempfile.TemporaryDirectory(prefix="wavetag-bench-serve-") as tmp:
        model_dir = args.model_dir
        if model_dir is None:
            t = time.perf_counter()
            model_dir = build_model(Path(tmp))
            print(f"built {model_dir} in {time.perf_counter() - t:.1f} s", flush=True)
        runs, info = [], {}
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            run, info = bench(model_dir, backend, args, bodies)
            runs.append(run)
            print(f"{backend}: done", flush=True)
    report(runs, info, args)


if __name__ == "__main__":
    main()
