"""The page at ``/`` in a real headless Chromium (Debian's, driven by Playwright): upload a WAV,
read the label, see the drawings; a garbage file shows the server's message; a recording from
Chromium's fake microphone goes through MediaRecorder -> WebAudio -> 16-bit WAV -> the API.

Chromium comes from Debian (scripts/install-debian-deps.sh, run by ``make test``); Playwright's
own browser download is never used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf
from test_serve import SR, TONES, build_tone_model, tone

from wavetag.serve import BackgroundServer, create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model_dir = build_tone_model(tmp_path_factory.getbasetemp() / "wavetag-tone-model")
    with BackgroundServer(create_app(model_dir, threads=1)) as url:
        yield url


def chromium_context(tmp_path_factory, profile: str = "chromium-profile", extra_args: tuple[str, ...] = ()):
    """A headless Debian Chromium context driven by Playwright (a generator: yields it, then closes it);
    a clear failure when Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium. Run 'make test' (it installs it "
            "through scripts/install-debian-deps.sh), or 'sudo apt-get install chromium'",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the Python package playwright is missing: run 'make test' (it installs requirements.lock), "
            "or 'pip install playwright'",
            pytrace=False,
        )
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp(profile)),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*ARGS, *extra_args],
            viewport={"width": 1000, "height": 1200},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium_context(tmp_path_factory)


def open_page(browser, server):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server + "/")
    page.wait_for_function("document.querySelector('#model-info').textContent.includes('ds_cnn_s')")
    return page


def wait_for_answer(page) -> str:
    page.wait_for_function("['done', 'error'].includes(document.querySelector('#top-label').dataset.state)")
    return page.get_attribute("#top-label", "data-state")


def drawn_pixels(page, canvas_id: str) -> int:
    """Pixels of the canvas that are not transparent or black."""
    return page.evaluate(f"""() => {{
        const c = document.getElementById('{canvas_id}');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] + d[i + 1] + d[i + 2] > 30) n++;
        return n;
    }}""")


def test_upload_shows_label_bars_and_drawings(browser, server, tmp_path):
    wav = tmp_path / "high.wav"
    sf.write(wav, tone(TONES["high"], seconds=1.0), SR, subtype="PCM_16")
    page = open_page(browser, server)
    page.set_input_files("#file", str(wav))
    assert wait_for_answer(page) == "done", page.inner_text("#error")
    assert page.inner_text("#top-label") == "high"
    bars = page.locator("#bars [role=meter]")
    assert bars.count() == 3
    assert bars.first.get_attribute("aria-label").startswith("high: ")
    assert float(bars.first.get_attribute("aria-valuenow")) > 50
    page.wait_for_function("document.querySelector('#spectrogram').getAttribute('aria-label').includes('high.wav')")
    assert drawn_pixels(page, "waveform") > 500 and drawn_pixels(page, "spectrogram") > 10_000
    assert "8000 Hz mono" in page.inner_text("#status")
    shot = tmp_path / "page-upload.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    _keep(shot)
    page.close()


def test_garbage_upload_shows_the_server_message(browser, server, tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio " * 50)
    page = open_page(browser, server)
    page.set_input_files("#file", str(junk))
    assert wait_for_answer(page) == "error"
    message = page.inner_text("#error")
    assert "the server answered 415" in message and "junk.wav: cannot decode 500 bytes as audio" in message
    page.close()


def test_recording_from_the_microphone(browser, server, tmp_path):
    page = open_page(browser, server)
    page.click("#record")
    page.wait_for_function("document.querySelector('#record').getAttribute('aria-pressed') === 'true'")
    page.wait_for_timeout(1200)
    page.click("#record")
    assert wait_for_answer(page) == "done", page.inner_text("#error")
    assert page.inner_text("#top-label") in TONES  # Chromium's fake microphone beeps: any class will do
    assert "recording.wav" in page.inner_text("#status")
    shot = tmp_path / "page-recording.png"
    page.screenshot(path=str(shot), full_page=True)
    _keep(shot)
    page.close()


def _keep(shot: Path) -> None:
    """Copy screenshots to $WAVETAG_SCREENSHOTS when set (to look at them after the run)."""
    import os

    target = os.environ.get("WAVETAG_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
