"""The server under abuse: a real uvicorn server on a loopback port, hit with what the internet sends.

A 50-MB upload (declared, chunked and multipart), a 10-minute WAV, garbage, a wrong Content-Type,
an empty body, malformed multipart bodies, a path-traversal file name and many slow uploads held
open at once: each gets its 4xx (or, for the legitimate ones, its answer), and afterwards the server
still answers /health and still labels a good clip correctly. schemathesis then fuzzes every route
from /openapi.json (a bounded number of examples): no 5xx.
"""

from __future__ import annotations

import itertools
import socket

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from test_serve import TONES, build_tone_model, tone, wav_bytes

from wavetag.inference.predictor import Predictor
from wavetag.serve import BackgroundServer, create_app

MB = 1 << 20
HTTP_TIMEOUT_S = 60.0  # bounds every request: a hang fails the test instead of stalling the suite
SLOW_UPLOADS = 24


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    return Predictor.load(build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model"), threads=1)


@pytest.fixture(scope="module")
def server(predictor):
    with BackgroundServer(create_app(predictor)) as url:  # the default limits: 10 MiB, 30 s / 600 s
        yield url


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=HTTP_TIMEOUT_S) as c:
        yield c


def assert_still_correct(client: httpx.Client) -> None:
    """The server answers and labels a clean tone as before."""
    assert client.get("/health").json()["status"] == "ok"
    answer = client.post("/v1/classify", content=wav_bytes(tone(TONES["high"])), headers={"content-type": "audio/wav"})
    assert answer.status_code == 200 and answer.json()["label"] == "high"


def raw_request(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` + ``body`` on a fresh socket and return what comes back (status line first)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT_S) as s:
        s.sendall(head + body)
        return _read_response(s)


def _read_response(s: socket.socket) -> bytes:
    """Status line, headers and the body (up to its Content-Length, or until the server closes)."""
    data = b""
    while True:
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")),
            None,
        )
        if _ and length is not None and len(body) >= length:
            return data
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# ---------------------------------------------------------------------------- size and length


@pytest.mark.slow
def test_50_mb_uploads_are_refused_and_the_server_carries_on(server, client):
    declared = raw_request(
        server,
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: %d\r\n\r\n" % (50 * MB),
    )  # the body is never sent: refused on the header
    assert status_of(declared) == 413 and b"the limit is 10,485,760 bytes" in declared

    def fifty_mb():
        block = np.random.default_rng(0).integers(0, 256, MB, dtype=np.uint8).tobytes()
        for _ in range(50):
            yield block

    chunked = client.post("/v1/classify", content=fifty_mb(), headers={"content-type": "audio/wav"})
    assert chunked.status_code == 413 and "more than" in chunked.json()["detail"]
    multipart = client.post("/v1/classify", files={"file": ("big.wav", b"\0" * (50 * MB), "audio/wav")})
    assert multipart.status_code == 413
    assert_still_correct(client)


@pytest.mark.slow
def test_ten_minute_wav(client):
    minutes = wav_bytes(tone(TONES["mid"], seconds=600.0))  # 9.6 MB at 8 kHz: under the size limit
    classify = client.post("/v1/classify?filename=long.wav", content=minutes, headers={"content-type": "audio/wav"})
    assert classify.status_code == 413
    assert classify.json()["detail"].startswith("long.wav: 600.0 s of audio; /v1/classify takes at most 30 s")
    detect = client.post("/v1/detect?hop_s=0.5", content=minutes, headers={"content-type": "audio/wav"})
    assert detect.status_code == 200 and detect.json()["duration_s"] == pytest.approx(600.0)
    assert_still_correct(client)


# ---------------------------------------------------------------------------- bad bodies


BOUNDARY = b"wavetagboundary"
GOOD = wav_bytes(tone(TONES["low"]))
MALFORMED_MULTIPART = {
    "no boundary parameter": (b"multipart/form-data", b"--x\r\n\r\n"),
    "no closing boundary": (
        b"multipart/form-data; boundary=" + BOUNDARY,
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + GOOD,
    ),
    "no part headers": (
        b"multipart/form-data; boundary=" + BOUNDARY,
        b"--" + BOUNDARY + b"\r\n\r\n" + GOOD + b"\r\n--" + BOUNDARY + b"--\r\n",
    ),
    "garbage between boundaries": (
        b"multipart/form-data; boundary=" + BOUNDARY,
        b"--" + BOUNDARY + b"\r\n" + bytes(range(256)) * 8 + b"\r\n--" + BOUNDARY + b"--\r\n",
    ),
    "a thousand fields": (
        b"multipart/form-data; boundary=" + BOUNDARY,
        b"".join(
            b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(1000)
        )
        + b"--"
        + BOUNDARY
        + b"--\r\n",
    ),
    "empty body": (b"multipart/form-data; boundary=" + BOUNDARY, b""),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_MULTIPART))
def test_malformed_multipart_is_a_4xx(client, case):
    content_type, body = MALFORMED_MULTIPART[case]
    answer = client.post("/v1/classify", content=body, headers={"content-type": content_type.decode()})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["detail"]


@pytest.mark.parametrize(
    "body, content_type, status, words",
    [
        (b"", "audio/wav", 422, "0 bytes received"),
        (
            bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8)),
            "application/octet-stream",
            415,
            "cannot decode",
        ),
        (GOOD, "text/html", 415, "Content-Type 'text/html' is not accepted"),
        (GOOD, "application/x-www-form-urlencoded", 415, "is not accepted"),
        (b'{"audio": "UklGRg=="}', "application/json", 415, "is not accepted"),
    ],
)
def test_bad_bodies_are_4xx_with_the_reason(client, body, content_type, status, words):
    answer = client.post("/v1/classify", content=body, headers={"content-type": content_type})
    assert answer.status_code == status and words in answer.json()["detail"]


def test_path_traversal_file_name_is_only_a_name(client, tmp_path):
    target = tmp_path / "evil.wav"
    name = "../" * 12 + str(target).lstrip("/")
    answer = client.post("/v1/classify", files={"file": (name, GOOD, "audio/wav")})
    assert answer.status_code == 200 and answer.json()["label"] == "low"
    assert not target.exists()  # nothing is written where the name points
    probe = client.post(
        "/v1/classify?filename=../../../../etc/passwd",
        content=b"garbage" * 10,
        headers={"content-type": "application/octet-stream"},
    )
    assert probe.status_code == 415 and "root:" not in probe.text  # the name is echoed, the file never read


# ---------------------------------------------------------------------------- many slow uploads


@pytest.mark.slow
def test_many_slow_uploads_at_once(server, client):
    host, port = server.removeprefix("http://").split(":")
    head = (
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(GOOD)
    )
    slow = []
    try:
        for _ in range(SLOW_UPLOADS):  # each sends its headers and 100 bytes, then stalls
            s = socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT_S)
            s.sendall(head + GOOD[:100])
            slow.append(s)
        assert_still_correct(client)  # others are served while they stall
        for s in slow[: SLOW_UPLOADS // 2]:  # half give up mid-body ...
            s.close()
        finished = []
        for s in slow[SLOW_UPLOADS // 2 :]:  # ... half finish, and get their answer
            s.sendall(GOOD[100:])
            finished.append(_read_response(s))
        assert [status_of(r) for r in finished] == [200] * len(finished)
        assert all(b'"label":"low"' in r for r in finished)
    finally:
        for s in slow:
            s.close()
    assert_still_correct(client)


# ---------------------------------------------------------------------------- schemathesis


schemathesis = pytest.importorskip("schemathesis")
SCHEMATHESIS_EXAMPLES = 25  # per route and phase: bounded, so the test stays a few seconds


def test_schemathesis_finds_no_5xx(predictor):
    """Every operation of /openapi.json, with valid and invalid generated requests: never a 5xx."""
    from schemathesis.checks import not_a_server_error

    app = create_app(predictor, max_upload_bytes=200_000, max_classify_s=5.0, max_detect_s=20.0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/classify", "/v1/detect", "/health", "/v1/model"}
    tried = []
    for operation, mode in itertools.product(operations, list(schemathesis.GenerationMode)):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            response = case.call_and_validate(checks=[not_a_server_error])
            tried.append(response.status_code)

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid (GET /health has no parameters)
            assert mode == schemathesis.GenerationMode.NEGATIVE
    assert len(tried) >= 4 * len(operations) and max(tried) < 500
    print(f"schemathesis: {len(tried)} requests, statuses {sorted(set(tried))}")
