// Glue: a bundle's test vectors replayed through LiteRT.js as the apps' benchmark does (the Kotlin core's Replay.kt): camera
// frames at j / lip_fps and audio chunks interleaved by time through the Kotlin schedule, the vectors' active and reset
// per chunk; then parity against the float reference outputs stored in the bundle, and device_report.json.
import * as core from '../build/core/avsep-core.mjs';
import { StepBinding } from './steps.js';
import { median, parity } from './metrics.js';
import { BACKEND, THREADS } from './runtime.js';

const DTYPES = { float32: Float32Array, int32: Int32Array };

/** The vectors' arrays: {'lip_step/crops': {data, shape, perCall, call(i)}, ...}, read as the manifest lists them. */
export async function loadVectors(bundle, m) {
  const rel = m.test_vectors;
  const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
  const index = await bundle.json(rel);
  if (index.format !== 'avsep-test-vectors/1') throw new Error(`test vectors are '${index.format}', this page reads 'avsep-test-vectors/1'`);
  const out = { lipCalls: index.lip_step.calls, avCalls: index.av_step.calls };
  const entries = [];
  for (const step of ['lip_step', 'av_step']) {
    for (const side of ['inputs', 'outputs']) for (const [name, e] of Object.entries(index[step][side] ?? {})) entries.push([`${step}/${side}/${name}`, e]);
  }
  entries.push(['av_step/lip_call', index.av_step.lip_call]);
  if (index.av_step.reset) entries.push(['av_step/reset', index.av_step.reset]);
  for (const [key, e] of entries) {
    const buf = await bundle.read(dir + e.file);
    const data = new DTYPES[e.dtype](buf);
    const perCall = e.shape.slice(1).reduce((a, b) => a * b, 1);
    if (data.length !== e.shape.reduce((a, b) => a * b, 1)) throw new Error(`${e.file} has ${data.length} values, its shape needs ${e.shape.reduce((a, b) => a * b, 1)}`);
    out[key] = { data, shape: e.shape, perCall, call: (i) => data.subarray(i * perCall, (i + 1) * perCall) };
  }
  return out;
}

/** Presentation time of frame j of a regular camera, ns (Replay.frameNs). */
const frameNs = (j, fps) => Math.round((j * 1e9) / fps);

/** One pass: {lipEmb, speakers, residual} flat in call order, heldLips per chunk, and every call's ms. */
export async function replay(model, m, vec) {
  const S = m.speakers, chunk = m.chunk_samples, sr = m.sample_rate;
  const lip = new StepBinding(model, 'lip_step', m.signatures.lip_step);
  const av = new StepBinding(model, 'av_step', m.signatures.av_step);
  const sch = new core.WebScheduler(sr, chunk, S, 0, core.neverNs(), core.liveScheduleDefaults()[2]);
  const crops = vec['lip_step/inputs/crops'], pcm = vec['av_step/inputs/pcm'], active = vec['av_step/inputs/active'];
  const reset = vec['av_step/reset'], lipCall = vec['av_step/lip_call'].data;
  // the reference resets a slot before chunk c's lip_step calls: before the first frame after lip_call[c - 1]
  const lipResets = new Map();
  if (reset) {
    for (let c = 0; c < pcm.shape[0]; c++) {
      const j = c === 0 ? 0 : lipCall[c - 1] + 1;
      const acc = lipResets.get(j) ?? new Float32Array(S);
      reset.call(c).forEach((r, k) => { if (r !== 0) acc[k] = 1; });
      lipResets.set(j, acc);
    }
  }
  const faces = Int32Array.from({ length: S }, (_, s) => s);
  const zeroEmb = new Float32Array(m.signatures.lip_step.outputs.find((t) => t.name === 'lip_emb').shape.reduce((a, b) => a * b, 1));
  const embs = new Map(), queue = [];
  const out = { lipEmb: [], speakers: [], residual: [], heldLips: [] };
  let released = 0;
  const drain = async () => {
    for (let plan = sch.next(); plan; plan = sch.next()) {
      const c = released++;
      if (reset) av.resetSlots(reset.call(c));
      const o = await av.run({ pcm: queue.shift(), lip_emb: plan.lip < 0 ? zeroEmb : embs.get(plan.lip), active: active.call(c) });
      out.speakers.push(o.speakers);
      out.residual.push(o.residual);
      out.heldLips.push(plan.lip);
    }
  };
  const frame = async (j) => {
    lip.resetSlots(lipResets.get(j));
    const o = await lip.run({ crops: crops.call(j) });
    out.lipEmb.push(o.lip_emb);
    embs.set(sch.frame(frameNs(j, m.lip_fps), faces), o.lip_emb);
  };
  let j = 0;
  for (let c = 0; c < pcm.shape[0]; c++) {
    const end = (c + 1) * chunk;
    while (j < crops.shape[0] && frameNs(j, m.lip_fps) * sr <= end * 1e9) {
      await frame(j++);
      await drain();
    }
    queue.push(pcm.call(c));
    sch.audio(chunk);
    await drain();
  }
  while (j < crops.shape[0]) await frame(j++);
  sch.endOfVideo();
  await drain();
  lip.close();
  av.close();
  if (out.speakers.length !== pcm.shape[0]) throw new Error(`replay released ${out.speakers.length} chunks of ${pcm.shape[0]}`);
  const flat = (xs) => { const a = new Float32Array(xs.reduce((n, x) => n + x.length, 0)); let k = 0; for (const x of xs) { a.set(x, k); k += x.length; } return a; };
  return { lipEmb: flat(out.lipEmb), speakers: flat(out.speakers), residual: flat(out.residual), heldLips: out.heldLips, lipMs: lip.ms, avMs: av.ms };
}

/** Parity of one pass against the recorded float reference. */
export function replayParity(vec, r) {
  return {
    speakers: parity(vec['av_step/outputs/speakers'].data, r.speakers),
    residual: parity(vec['av_step/outputs/residual'].data, r.residual),
    lip_emb: parity(vec['lip_step/outputs/lip_emb'].data, r.lipEmb),
  };
}

/** "HeadlessChrome 156.0.8078.114 / Linux x86_64": the browser's name and version and the platform. */
export function browserName(fullVersion = null) {
  const ua = navigator.userAgent;
  const m = ua.match(/(Edg|OPR|HeadlessChrome|Chrome|Firefox|Version)\/([\d.]+)/);
  const name = m ? (m[1] === 'Version' ? 'Safari' : m[1]) + ' ' + m[2] : ua;
  const headless = /Headless/.test(ua) ? ' (headless)' : '';
  return `${fullVersion ? fullVersion + headless : name} / ${navigator.platform || 'unknown platform'}`;
}

/** device_report.json (avsep_mobile/schemas/device_report.schema.json) from timed passes; the first pass gives parity.
 *  The browser coarsens performance.now() (0.1 ms without cross-origin isolation), so step_ms is each pass's mean
 *  call time (the median over passes), not a median of single calls. */
export function deviceReport(bundle, m, vec, passes, fullVersion = null) {
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const audioSec = (vec.avCalls * m.chunk_samples) / m.sample_rate, videoSec = vec.lipCalls / m.lip_fps;
  const av = passes.map((p) => sum(p.avMs) / 1000), lip = passes.map((p) => sum(p.lipMs) / 1000);
  const lipCall = vec['av_step/lip_call'].data;
  return {
    format: 'avsep-device-report/1',
    target: m.target,
    device: browserName(fullVersion),
    precision: m.precision,
    manifest_sha256: bundle.manifestSha256,
    threads: THREADS,
    runner: `${BACKEND} (@litertjs/core 2.5.3, XNNPack in WebAssembly)`,
    runs: passes.length,
    parity: replayParity(vec, passes[0]),
    rtf: { av_step: median(av.map((x) => x / audioSec)), lip_step: median(lip.map((x) => x / videoSec)), stream: median(passes.map((_, i) => (av[i] + lip[i]) / audioSec)) },
    step_ms: { av_step: median(passes.map((p) => sum(p.avMs) / p.avMs.length)), lip_step: median(passes.map((p) => sum(p.lipMs) / p.lipMs.length)) },
    calls: { av_step: vec.avCalls, lip_step: vec.lipCalls },
    schedule: { held_frames_equal_lip_call: passes[0].heldLips.length === lipCall.length && passes[0].heldLips.every((l, c) => l === lipCall[c]) },
  };
}
