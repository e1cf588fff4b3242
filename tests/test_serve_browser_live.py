"""The page's live mode in headless Chromium: its fake microphone plays a WAV of tones
(``--use-file-for-fake-audio-capture``), the page resamples it to the model's rate in JS and
streams it over ``/v1/stream``, and the detections appear on the page."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from test_serve import SR, TONES, build_tone_model, tone
from test_serve_browser import chromium_context, open_page

from wavetag.serve import BackgroundServer, create_app

pytestmark = pytest.mark.slow
MIC_RATE = 48_000  # what the fake microphone's file is written at: the page resamples 48 kHz -> 8 kHz


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model_dir = build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model")
    with BackgroundServer(create_app(model_dir, threads=1, backend="torch")) as url:
        yield url


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory):
    """Three 'low' tones (300 Hz, 0.5 s) with 0.6 s of quiet noise between, at 48 kHz."""
    import soxr

    rng = np.random.default_rng(0)
    quiet = lambda: (0.01 * rng.standard_normal(int(0.6 * SR))).astype(np.float32)  # noqa: E731
    x = np.concatenate([quiet(), tone(TONES["low"]), quiet(), tone(TONES["low"]), quiet(), tone(TONES["low"]), quiet()])
    path = tmp_path_factory.mktemp("mic") / "low-tones.wav"
    sf.write(path, soxr.resample(x, SR, MIC_RATE), MIC_RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory, mic_wav):
    extra = (f"--use-file-for-fake-audio-capture={mic_wav}", "--autoplay-policy=no-user-gesture-required")
    yield from chromium_context(tmp_path_factory, "chromium-live-profile", extra)


def test_live_mode_shows_the_keyword_from_the_microphone(browser, server):
    page = open_page(browser, server)
    page.click("#listen")
    page.wait_for_function("document.querySelector('#live-status').textContent.startsWith('Listening')")
    page.wait_for_selector("#live-events li[data-label='low']")  # the tone the fake microphone plays
    assert page.get_attribute("#listen", "aria-pressed") == "true"
    assert "incremental STFT" in page.inner_text("#live-status")
    page.wait_for_selector("#live-events li[data-label='low'][data-state='final']")  # then its final span
    first = page.locator("#live-events li[data-label='low'][data-state='final']").first.inner_text()
    assert "low" in first and "score" in first
    page.click("#listen")
    page.wait_for_function("document.querySelector('#live-status').textContent.startsWith('Stopped')")
    assert page.get_attribute("#listen", "aria-pressed") == "false"
    assert page.is_hidden("#error")
    page.close()
