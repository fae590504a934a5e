// Glue: live separation from the microphone and camera: getUserMedia, the microphone at the model's rate through an
// AudioWorklet, camera frames stamped on the audio clock, faces and mouths as for a file, and the apps' live schedule
// (the Kotlin core's defaults: no wait for video, 200 ms start-up wait) deciding each chunk's frame.
import { NS, Collector, Streamer } from './stream.js';
import { VideoFaces } from './separate.js';

export class Live {
  /** onFrame(img, boxes) draws each accepted frame; onChunk(separated, counts) receives the PCM as it is released. */
  static async start(model, m, bridgeJson, finder, { onFrame = () => {}, onChunk = () => {} } = {}) {
    const live = new Live();
    live.m = m;
    live.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false }, video: { frameRate: 30 } });
    live.st = new Streamer(model, m); // the apps' live schedule
    live.faces = new VideoFaces(m.speakers, m.crop_size, bridgeJson, finder);
    live.out = new Collector(m.speakers);
    live.onChunk = onChunk;
    live.counts = { samples: 0, frames: 0, accepted: 0, dropped: 0, played: 0 };
    live.running = true;
    // audio: the context runs at the model's rate (the browser resamples the microphone); sample n is at anchor + n / sr
    live.ctx = new AudioContext({ sampleRate: m.sample_rate });
    await live.ctx.audioWorklet.addModule(new URL('./capture-worklet.js', import.meta.url));
    const src = live.ctx.createMediaStreamSource(live.stream);
    live.node = new AudioWorkletNode(live.ctx, 'avsep-capture');
    src.connect(live.node);
    live.node.port.onmessage = (e) => live.audio(e.data);
    // video: each new camera frame, stamped by when it was captured (performance.now's clock)
    live.video = document.createElement('video');
    Object.assign(live.video, { muted: true, playsInline: true, srcObject: live.stream });
    await live.video.play();
    live.canvas = new OffscreenCanvas(live.video.videoWidth || 640, live.video.videoHeight || 480);
    live.onFrame = onFrame;
    live.video.requestVideoFrameCallback((now, meta) => live.frame(meta));
    return live;
  }

  /** Plays slot s's separated voice as it comes (-1: none; S: the residual), on the same audio context. */
  hear(slot) {
    this.playSlot = slot;
    this.playAt = 0;
  }

  play(o) {
    const s = this.playSlot ?? -1;
    const x = s < 0 ? null : s < o.speakers.length ? o.speakers[s] : o.residual;
    if (!x?.length || this.ctx.state === 'closed') return;
    const buf = this.ctx.createBuffer(1, x.length, this.m.sample_rate);
    buf.copyToChannel(x, 0);
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.ctx.destination);
    this.playAt = Math.max(this.playAt, this.ctx.currentTime + 0.05); // a short cushion against late chunks
    src.start(this.playAt);
    this.playAt += buf.duration;
    this.counts.played += x.length;
  }

  audio(block) {
    if (!this.running) return;
    if (this.anchorMs === undefined) this.anchorMs = performance.now() - (1000 * block.length) / this.m.sample_rate;
    this.counts.samples += block.length;
    this.st.audio(block).then((o) => { this.out.add(o); this.play(o); this.onChunk(o, this.counts); });
  }

  async frame(meta) {
    if (!this.running) return;
    this.video.requestVideoFrameCallback((now, m) => this.frame(m));
    this.counts.frames++;
    if (this.anchorMs === undefined) return; // no audio yet: no clock to put the frame on
    const tNs = Math.round(((meta.captureTime ?? meta.presentationTime) - this.anchorMs) * 1e6);
    if (tNs < 0 || !this.st.accept(tNs)) return;
    if (this.busy) { this.counts.dropped++; return; } // the face work of the last frame is still running
    this.busy = true;
    try {
      const { width, height } = { width: this.video.videoWidth, height: this.video.videoHeight };
      if (this.canvas.width !== width || this.canvas.height !== height) this.canvas = new OffscreenCanvas(width, height);
      const ctx = this.canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(this.video, 0, 0, width, height);
      const img = { data: ctx.getImageData(0, 0, width, height).data, width, height };
      const { ids, boxes } = await this.faces.frame(img, tNs / NS);
      this.onFrame(img, boxes);
      this.counts.accepted++;
      const o = await this.st.frame(tNs, this.faces.crops, ids);
      this.out.add(o);
      this.play(o);
      this.onChunk(o, this.counts);
    } finally {
      this.busy = false;
    }
  }

  /** Stops capture and flushes: {speakers, residual, counts, plans} for the whole session. */
  async stop() {
    this.running = false;
    this.node.port.onmessage = null;
    this.stream.getTracks().forEach((t) => t.stop());
    await this.ctx.close();
    this.out.add(await this.st.flush());
    const r = { ...this.out.result(), counts: this.counts, plans: this.st.plans };
    this.st.close();
    return r;
  }
}
