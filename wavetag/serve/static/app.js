"use strict";
// wavetag page: a file (or a microphone recording, sent as 16-bit WAV) -> POST /v1/classify ->
// top-k bars; or live: the microphone -> WebSocket /v1/stream -> events as they are detected. The waveform and the spectrogram are drawn here from the audio the browser decodes,
// resampled to the model's rate, so they show what the model hears. No libraries, no build step.

const $ = (id) => document.getElementById(id);
const DB_RANGE = 80; // spectrogram colours span this many dB below the loudest bin
const MAX_RECORD_S = 10;
const COLOURS = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]];

const state = { model: null, topK: 5, recorder: null, live: null };

// ------------------------------------------------------------------ model description

async function loadModel() {
  try {
    const response = await fetch("/v1/model");
    const m = await response.json();
    state.model = m;
    state.topK = Math.min(5, m.labels.length);
    $("model-info").textContent =
      `${m.name} · ${m.labels.length} classes (${m.labels.join(", ")}) · ${m.sample_rate} Hz · ${m.window_s} s window · ${m.backend}`;
  } catch (err) {
    showError(`Cannot reach the server (${err.message}); is 'wavetag serve' still running?`);
  }
}

// ------------------------------------------------------------------ input: a file

$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  await classify(await file.arrayBuffer(), form, file.name, file);
});

// ------------------------------------------------------------------ input: the microphone

$("record").addEventListener("click", async () => {
  if (state.recorder) {
    state.recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("This browser cannot record here (no MediaRecorder, or the page is not on localhost/https); upload a file instead.");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError(`The microphone is not available (${err.message}).`);
    return;
  }
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    state.recorder = null;
    setRecording(false);
    try {
      const { samples, rate } = await decode(await new Blob(chunks, { type: recorder.mimeType }).arrayBuffer());
      const wav = encodeWav(samples, rate);
      const blob = new Blob([wav], { type: "audio/wav" });
      await classify(wav, blob, "recording.wav", blob);
    } catch (err) {
      showError(`Cannot decode the recording (${err.message}).`);
    }
  };
  state.recorder = recorder;
  recorder.start();
  setRecording(true);
  setTimeout(() => { if (recorder.state === "recording") recorder.stop(); }, MAX_RECORD_S * 1000);
});

function setRecording(on) {
  $("record").setAttribute("aria-pressed", String(on));
  $("record-text").textContent = on ? `Stop recording (at most ${MAX_RECORD_S} s)` : "Record from the microphone";
  setStatus(on ? "Recording… press the button again to stop." : "");
}

// ------------------------------------------------------------------ live: the microphone over /v1/stream
// The microphone's samples (AudioWorklet, static/capture.js) are resampled here to the model's rate
// and sent as float32 frames over the WebSocket; the server pushes each event as it becomes final.

const SEND_S = 0.1; // audio per WebSocket frame

$("listen").addEventListener("click", async () => {
  if (state.live) {
    stopLive("Stopped.");
    return;
  }
  if (!navigator.mediaDevices || !window.AudioWorkletNode || !window.WebSocket) {
    showError("This browser cannot listen live here (no AudioWorklet or WebSocket, or the page is not on localhost/https).");
    return;
  }
  clearError();
  const rate = state.model ? state.model.sample_rate : 16000;
  let stream, context;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    context = new AudioContext();
    await context.audioWorklet.addModule("/static/capture.js");
  } catch (err) {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    showError(`The microphone is not available (${err.message}).`);
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/stream`);
  socket.binaryType = "arraybuffer";
  const live = { stream, context, socket, resampler: new Resampler(context.sampleRate, rate), pending: [], queued: 0 };
  state.live = live;
  $("live").hidden = false;
  $("live-events").replaceChildren();
  setListening(true, `Connecting (microphone at ${context.sampleRate} Hz, sent at ${rate} Hz)…`);
  socket.onopen = () => socket.send(JSON.stringify({ sample_rate: rate, format: "f32le", channels: 1 }));
  socket.onmessage = (message) => onLiveMessage(JSON.parse(message.data));
  socket.onclose = (event) => {
    if (state.live === live) stopLive(event.code === 1000 ? "Stopped." : `The server closed the stream (code ${event.code}).`);
  };
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, "wavetag-capture");
  capture.port.onmessage = (message) => sendLive(live, live.resampler.process(message.data), rate);
  source.connect(capture);
  capture.connect(context.destination); // pulls the graph; the node outputs silence
});

function sendLive(live, samples, rate) {
  live.pending.push(samples);
  live.queued += samples.length;
  if (live.queued < SEND_S * rate || live.socket.readyState !== WebSocket.OPEN || !live.ready) return;
  const frame = new Float32Array(live.queued);
  let offset = 0;
  for (const part of live.pending) { frame.set(part, offset); offset += part.length; }
  live.pending = [];
  live.queued = 0;
  live.socket.send(frame.buffer); // little-endian float32 on every platform browsers run on
}

function onLiveMessage(message) {
  const live = state.live;
  if (message.type === "ready") {
    if (live) live.ready = true;
    setLiveStatus(`Listening: ${message.windows}; events show below as they are detected.`);
  } else if (message.type === "fire") { // shown at once; the final event fills in its span and score
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = message.label;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = `fired at ${message.fired_s.toFixed(2)} s…`;
    item.append(name, when);
    item.dataset.label = message.label;
    item.dataset.fired = message.fired_s;
    $("live-events").prepend(item);
  } else if (message.type === "event") {
    const item = [...$("live-events").children].find(
      (li) => li.dataset.label === message.label && Number(li.dataset.fired) === message.fired_s);
    if (item) {
      item.dataset.state = "final";
      item.querySelector(".when").textContent =
        `${message.start_s.toFixed(2)}–${message.end_s.toFixed(2)} s, score ${(100 * message.score).toFixed(1)} %`;
    }
  } else if (message.type === "error") {
    showError(`The live stream stopped: ${message.detail}`);
  } else if (message.type === "end") {
    setLiveStatus(`Stopped after ${message.audio_s.toFixed(1)} s of audio.`);
  }
}

function stopLive(text) {
  const live = state.live;
  if (!live) return;
  state.live = null;
  live.stream.getTracks().forEach((track) => track.stop());
  live.context.close();
  if (live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify({ type: "end" })); // the server closes
  setListening(false, text);
}

function setListening(on, text) {
  $("listen").setAttribute("aria-pressed", String(on));
  $("listen-text").textContent = on ? "Stop listening" : "Listen live";
  setLiveStatus(text);
}

function setLiveStatus(text) { $("live-status").textContent = text; }

class Resampler {
  // Streaming windowed-sinc resampler: low-pass at 95 % of the lower Nyquist, Hann window of
  // HALF_TAPS zero crossings each side; state carried between blocks.
  constructor(inRate, outRate) {
    const HALF_TAPS = 16;
    this.step = inRate / outRate; // input samples per output sample
    this.cutoff = 0.95 * Math.min(1, outRate / inRate); // of the input Nyquist
    this.half = Math.ceil(HALF_TAPS / this.cutoff);
    this.buffer = new Float32Array(this.half); // zeros before the first sample
    this.pos = this.half; // input index (in buffer) of the next output sample
  }

  process(block) {
    const joined = new Float32Array(this.buffer.length + block.length);
    joined.set(this.buffer);
    joined.set(block, this.buffer.length);
    const out = [];
    while (this.pos + this.half < joined.length) {
      const centre = this.pos;
      let sum = 0;
      for (let k = Math.ceil(centre - this.half); k <= Math.floor(centre + this.half); k++) {
        const t = centre - k;
        const x = Math.PI * this.cutoff * t;
        const sinc = t === 0 ? 1 : Math.sin(x) / x;
        const window = 0.5 + 0.5 * Math.cos((Math.PI * t) / (this.half + 1));
        sum += joined[k] * this.cutoff * sinc * window;
      }
      out.push(sum);
      this.pos += this.step;
    }
    const keep = Math.floor(this.pos - this.half);
    this.buffer = joined.slice(keep);
    this.pos -= keep;
    return Float32Array.from(out);
  }
}

// ------------------------------------------------------------------ classify

async function classify(bytes, body, name, blob) {
  clearError();
  setStatus(`Classifying ${name}…`);
  setTopLabel("…", "busy");
  $("bars").replaceChildren();
  const player = $("player");
  player.src = URL.createObjectURL(blob);
  player.hidden = false;
  drawAudio(bytes, name); // drawn while the server works; a file the browser cannot decode is still sent
  try {
    const response = await fetch(`/v1/classify?top_k=${state.topK}&filename=${encodeURIComponent(name)}`,
      { method: "POST", body });
    const answer = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) throw new Error(`the server answered ${response.status}: ${answer.detail}`);
    showResult(answer);
    setStatus(`${name}: ${answer.duration_s.toFixed(2)} s, ${describeInput(answer.input)}.`);
  } catch (err) {
    setTopLabel("—", "error");
    setStatus("");
    showError(`Could not classify ${name}: ${err.message}`);
  }
}

function describeInput(input) {
  if (!input || !input.sample_rate) return "decoded by the server";
  const channels = input.channels === 1 ? "mono" : `${input.channels} channels mixed down`;
  return `${input.sample_rate} Hz ${channels}, resampled to ${input.resampled_to} Hz`;
}

function showResult(answer) {
  const label = Array.isArray(answer.label) ? (answer.label.join(", ") || "(none above 0.5)") : answer.label;
  setTopLabel(label, "done");
  $("top-score").textContent = `(${(100 * answer.score).toFixed(1)} %)`;
  const rows = answer.top_k.map(({ label: name, score }) => {
    const pct = 100 * score;
    const item = document.createElement("li");
    const text = document.createElement("span");
    text.className = "name";
    text.textContent = name;
    text.title = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.setAttribute("role", "meter");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", pct.toFixed(1));
    bar.setAttribute("aria-label", `${name}: ${pct.toFixed(1)} percent`);
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${pct.toFixed(2)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "pct";
    value.textContent = `${pct.toFixed(1)} %`;
    value.setAttribute("aria-hidden", "true");
    item.append(text, bar, value);
    return item;
  });
  $("bars").replaceChildren(...rows);
}

function setTopLabel(text, stateName) {
  const el = $("top-label");
  el.textContent = text;
  el.dataset.state = stateName;
  if (stateName !== "done") $("top-score").textContent = "";
}

function setStatus(text) { $("status").textContent = text; }
function showError(text) { const el = $("error"); el.textContent = text; el.hidden = false; }
function clearError() { const el = $("error"); el.textContent = ""; el.hidden = true; }

// ------------------------------------------------------------------ audio in the browser

async function decode(bytes) {
  const rate = state.model ? state.model.sample_rate : 16000;
  const context = new OfflineAudioContext(1, 1, rate); // decodeAudioData resamples to the context's rate
  const buffer = await context.decodeAudioData(bytes.slice(0));
  const samples = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const channel = buffer.getChannelData(c);
    for (let i = 0; i < samples.length; i++) samples[i] += channel[i] / buffer.numberOfChannels;
  }
  return { samples, rate: buffer.sampleRate };
}

function encodeWav(samples, rate) {
  // RIFF/WAVE, PCM 16-bit mono: 44-byte header, then little-endian samples.
  const buffer = new ArrayBuffer(44 + 2 * samples.length);
  const view = new DataView(buffer);
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return buffer;
}

async function drawAudio(bytes, name) {
  try {
    const { samples, rate } = await decode(bytes);
    drawWaveform($("waveform"), samples);
    const nFft = drawSpectrogram($("spectrogram"), samples, rate);
    const seconds = (samples.length / rate).toFixed(2);
    $("waveform").setAttribute("aria-label", `Waveform of ${name}, ${seconds} s`);
    $("spectrogram").setAttribute("aria-label", `Spectrogram of ${name}, ${seconds} s, 0 to ${rate / 2} Hz`);
    $("spectrogram-caption").textContent =
      `Spectrogram: ${seconds} s (time →), 0–${rate / 2} Hz (frequency ↑), ${nFft}-point FFT, ${DB_RANGE} dB range`;
  } catch (err) {
    setStatus(`This browser cannot decode ${name} to draw it (${err.message}); the server still classifies it.`);
  }
}

// ------------------------------------------------------------------ drawing

function drawWaveform(canvas, samples) {
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  g.strokeStyle = "#d0d7de";
  g.beginPath(); g.moveTo(0, height / 2); g.lineTo(width, height / 2); g.stroke();
  g.strokeStyle = "#0b5cad";
  g.beginPath();
  for (let x = 0; x < width; x++) {
    const from = Math.floor((x * samples.length) / width);
    const to = Math.max(from + 1, Math.floor(((x + 1) * samples.length) / width));
    let lo = 1, hi = -1;
    for (let i = from; i < to && i < samples.length; i++) { lo = Math.min(lo, samples[i]); hi = Math.max(hi, samples[i]); }
    if (hi < lo) continue;
    g.moveTo(x + 0.5, (1 - hi) * height / 2);
    g.lineTo(x + 0.5, (1 - lo) * height / 2 + 1);
  }
  g.stroke();
}

function drawSpectrogram(canvas, samples, rate) {
  // Power spectrum of Hann-windowed frames (32 ms rounded up to a power of two), in dB.
  const nFft = 2 ** Math.ceil(Math.log2(0.032 * rate));
  const bins = nFft / 2 + 1;
  const columns = Math.max(1, Math.min(canvas.width, Math.floor(samples.length / (nFft / 4))));
  const hop = Math.max(1, (samples.length - nFft) / Math.max(1, columns - 1));
  const hann = Float64Array.from({ length: nFft }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft));
  const db = new Float32Array(columns * bins);
  const re = new Float64Array(nFft), im = new Float64Array(nFft);
  let top = -Infinity;
  for (let c = 0; c < columns; c++) {
    const start = Math.round(c * hop);
    for (let i = 0; i < nFft; i++) { re[i] = (samples[start + i] || 0) * hann[i]; im[i] = 0; }
    fft(re, im);
    for (let k = 0; k < bins; k++) {
      const value = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
      db[c * bins + k] = value;
      top = Math.max(top, value);
    }
  }
  const image = new ImageData(columns, bins);
  for (let c = 0; c < columns; c++) {
    for (let k = 0; k < bins; k++) {
      const level = Math.max(0, Math.min(1, (db[c * bins + k] - top + DB_RANGE) / DB_RANGE));
      const [r, g, b] = colour(level);
      const p = 4 * ((bins - 1 - k) * columns + c); // low frequencies at the bottom
      image.data[p] = r; image.data[p + 1] = g; image.data[p + 2] = b; image.data[p + 3] = 255;
    }
  }
  const scratch = document.createElement("canvas");
  scratch.width = columns;
  scratch.height = bins;
  scratch.getContext("2d").putImageData(image, 0, 0);
  const g = canvas.getContext("2d");
  g.imageSmoothingEnabled = true;
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  return nFft;
}

function colour(level) {
  const x = level * (COLOURS.length - 1);
  const i = Math.min(COLOURS.length - 2, Math.floor(x));
  const t = x - i;
  return COLOURS[i].map((v, j) => Math.round(v + t * (COLOURS[i + 1][j] - v)));
}

function fft(re, im) {
  // In-place iterative radix-2 FFT; the length must be a power of two.
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) { // bit-reversal permutation
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const angle = (-2 * Math.PI) / size;
    const stepRe = Math.cos(angle), stepIm = Math.sin(angle);
    for (let start = 0; start < n; start += size) {
      let wRe = 1, wIm = 0;
      for (let k = 0; k < size / 2; k++) {
        const a = start + k, b = a + size / 2;
        const tRe = re[b] * wRe - im[b] * wIm, tIm = re[b] * wIm + im[b] * wRe;
        re[b] = re[a] - tRe; im[b] = im[a] - tIm;
        re[a] += tRe; im[a] += tIm;
        [wRe, wIm] = [wRe * stepRe - wIm * stepIm, wRe * stepIm + wIm * stepRe];
      }
    }
  }
}

loadModel();
