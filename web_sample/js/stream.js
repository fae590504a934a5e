// Glue: the page's streaming engine: the Kotlin core's schedule, chunker, frame gate and slot-face rule (core.mjs) around
// the two LiteRT.js steps, as avsep separate and the apps' StreamCore run them. Calls are serialised (LiteRT.js steps
// are Promises); frames and audio may arrive in any interleaving; outputs come back with the model's delay removed.
import * as core from '../build/core/avsep-core.mjs';
import { StepBinding } from './steps.js';

export const NS = 1e9;

export class Streamer {
  /** model: the compiled bundle; m: its manifest; schedule: {offsetNs, maxVideoWaitNs, startupWaitNs} (default: the apps' live ones). */
  constructor(model, m, schedule = {}) {
    const [offsetNs, maxVideoWaitNs, startupWaitNs] = core.liveScheduleDefaults();
    this.m = m;
    this.S = m.speakers;
    this.chunk = m.chunk_samples;
    this.delay = m.output_delay_samples;
    this.lip = new StepBinding(model, 'lip_step', m.signatures.lip_step);
    this.av = new StepBinding(model, 'av_step', m.signatures.av_step);
    this.scheduler = new core.WebScheduler(m.sample_rate, this.chunk, this.S, schedule.offsetNs ?? offsetNs,
      schedule.maxVideoWaitNs ?? maxVideoWaitNs, schedule.startupWaitNs ?? startupWaitNs);
    this.chunker = new core.WebChunker(this.chunk);
    this.gate = new core.WebFrameGate(m.lip_fps);
    this.lipSlots = new core.WebSlotFaces(this.S);
    this.embValues = m.signatures.lip_step.outputs.find((t) => t.name === 'lip_emb').shape.reduce((a, b) => a * b, 1);
    this.zeroEmb = new Float32Array(this.embValues);
    this.embeddings = new Map();
    this.pcm = [];
    this.received = 0; // input samples
    this.written = 0; // output samples released (before the delay is cut)
    this.queue = Promise.resolve();
    this.plans = [];
    this.activeChunks = new Array(this.S).fill(0);
  }

  /** Runs fn after every earlier call has finished (frames and audio share the two steps). */
  serial(fn) {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Whether the camera frame at tNs opens a new slot of the lip_fps grid (ask before any face work on it). */
  accept(tNs) {
    return this.gate.accept(tNs);
  }

  /** An accepted frame at tNs (audio clock, ns): crops [S*crop*crop] in [0, 1], faces[s] = face id in slot s or -1;
   *  returns what the chunks it releases separate. */
  frame(tNs, crops, faces) {
    return this.serial(async () => {
      this.lip.resetSlots(this.lipSlots.update(Int32Array.from(faces)));
      const { lip_emb } = await this.lip.run({ crops });
      this.embeddings.set(this.scheduler.frame(tNs, Int32Array.from(faces)), lip_emb);
      return this.drain();
    });
  }

  /** Any number of samples: the separated PCM of every chunk released so far ({speakers: [S][n], residual: [n]});
   *  padding (the flush) is not input, so no output is kept for it. */
  audio(samples, padding = false) {
    return this.serial(async () => {
      for (const c of this.chunker.push(samples)) this.pcm.push(c);
      if (!padding) this.received += samples.length;
      this.scheduler.audio(samples.length);
      return this.drain();
    });
  }

  /** No more frames: chunks stop waiting for video. */
  endOfVideo() {
    return this.serial(async () => {
      this.scheduler.endOfVideo();
      return this.drain();
    });
  }

  /** End of stream: zeros push every real sample out of the overlap-add buffer. */
  async flush() {
    const out = new Collector(this.S);
    out.add(await this.endOfVideo());
    out.add(await this.audio(new Float32Array(core.flushSamples(this.chunker.received(), this.chunk, this.delay)), true));
    return out.result();
  }

  async drain() {
    const spk = Array.from({ length: this.S }, () => []);
    const res = [];
    for (let plan = this.scheduler.next(); plan; plan = this.scheduler.next()) {
      const pcm = this.pcm.shift();
      this.av.resetSlots(plan.reset);
      const emb = plan.lip < 0 ? this.zeroEmb : this.embeddings.get(plan.lip);
      for (const k of this.embeddings.keys()) if (k < plan.lip) this.embeddings.delete(k); // never held again
      const out = await this.av.run({ pcm, lip_emb: emb, active: plan.active });
      this.plans.push({ lip: plan.lip, active: Array.from(plan.active), reset: Array.from(plan.reset) });
      plan.active.forEach((a, s) => { this.activeChunks[s] += a; });
      // output sample i is input sample i - delay: keep input samples [0, received)
      const lo = Math.max(0, this.delay - this.written), hi = Math.min(this.chunk, this.delay + this.received - this.written);
      if (hi > lo) {
        for (let s = 0; s < this.S; s++) spk[s].push(out.speakers.subarray(s * this.chunk + lo, s * this.chunk + hi));
        res.push(out.residual.subarray(lo, hi));
      }
      this.written += this.chunk;
    }
    return { speakers: spk.map(concat), residual: concat(res) };
  }

  close() {
    this.lip.close();
    this.av.close();
  }
}

export function concat(parts) {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let k = 0;
  for (const p of parts) { out.set(p, k); k += p.length; }
  return out;
}

/** Collects the outputs of successive calls into one {speakers: [S] Float32Array, residual}. */
export class Collector {
  constructor(S) { this.spk = Array.from({ length: S }, () => []); this.res = []; }
  add(o) { o.speakers.forEach((x, s) => this.spk[s].push(x)); this.res.push(o.residual); }
  result() { return { speakers: this.spk.map(concat), residual: concat(this.res) }; }
}
