"use strict";
// AudioWorklet processor of the page's live mode: hands each block of microphone samples (mixed
// to mono, at the AudioContext's rate) to the page, which resamples them and sends them on.
class WavetagCapture extends AudioWorkletProcessor {
  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const mono = new Float32Array(channels[0].length);
      for (const channel of channels) for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / channels.length;
      this.port.postMessage(mono, [mono.buffer]);
    }
    return true;
  }
}
registerProcessor("wavetag-capture", WavetagCapture);
