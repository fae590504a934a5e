// Runs the Android core's case tables against its Kotlin/JS build under node, as CaseTableTest and
// MouthBridgeTest run them on the JVM: node case_tables.mjs CORE.mjs '{"schedule": path, "bridge": path}'.
// Prints one JSON line {table: {cases, checks, failures: [...]}, ...}; exits 1 if any check failed.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, tablesJson] = process.argv.slice(2);
const core = await import(pathToFileURL(modulePath).href);
const tables = JSON.parse(tablesJson);
const load = (path, format) => {
  const t = JSON.parse(readFileSync(path, 'utf8'));
  if (t.format !== format) throw new Error(`${path}: format ${t.format}, expected ${format}`);
  return t;
};
const same = (a, b) => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

function schedule(t) {
  const r = { cases: 0, checks: 0, failures: [] };
  const fail = (msg) => r.failures.push(msg);
  for (const c of t.schedule) {
    r.cases++;
    const p = c.params;
    const sch = new core.WebScheduler(p.sample_rate, p.chunk_samples, p.speakers, p.offset_ns, p.max_video_wait_ns, p.startup_wait_ns);
    const got = [];
    for (const e of c.events) {
      if (e.frame) sch.frame(e.frame.t_ns, Int32Array.from(e.frame.faces));
      else if (e.audio !== undefined) sch.audio(e.audio);
      else if (e.offset_ns !== undefined) sch.setOffsetNs(e.offset_ns);
      else if (e.end_of_video) sch.endOfVideo();
      else fail(`${c.name}: unknown event ${JSON.stringify(e)}`);
      for (let plan = sch.next(); plan; plan = sch.next()) got.push(plan);
    }
    r.checks++;
    if (got.length !== c.expect.length) { fail(`${c.name}: ${got.length} chunks released, expected ${c.expect.length}`); continue; }
    c.expect.forEach((x, k) => {
      r.checks++;
      const g = got[k];
      if (g.index !== x.chunk || g.lip !== x.lip || !same(g.active, x.active) || !same(g.reset, x.reset)) {
        fail(`${c.name} chunk ${k}: got index ${g.index} lip ${g.lip} active ${Array.from(g.active)} reset ${Array.from(g.reset)}, expected ${JSON.stringify(x)}`);
      }
    });
  }
  for (const c of t.frame_gate) {
    r.cases++;
    const gate = new core.WebFrameGate(c.lip_fps);
    c.t_ns.forEach((tNs, k) => { r.checks++; if (gate.accept(tNs) !== c.accept[k]) fail(`${c.name} frame ${k}`); });
  }
  for (const c of t.slot_faces) {
    r.cases++;
    const tracker = new core.WebSlotFaces(c.faces[0].length);
    c.faces.forEach((row, k) => { r.checks++; if (!same(tracker.update(Int32Array.from(row)), c.reset[k])) fail(`${c.name} row ${k}`); });
  }
  for (const c of t.chunking) {
    r.cases++;
    const chunker = new core.WebChunker(c.chunk_samples);
    let next = 0, expectValue = 0;
    c.buffers.forEach((n, k) => {
      const chunks = chunker.push(Float32Array.from({ length: n }, () => next++));
      r.checks++;
      if (chunks.length !== c.chunks_after_each[k]) fail(`${c.name} buffer ${k}: ${chunks.length} chunks, expected ${c.chunks_after_each[k]}`);
      for (const ch of chunks) for (const v of ch) if (v !== expectValue++) { fail(`${c.name}: samples out of order`); return; }
    });
    r.checks++;
    const flush = core.flushSamples(chunker.received(), c.chunk_samples, c.output_delay_samples);
    if (flush !== c.flush_samples) fail(`${c.name}: flush ${flush}, expected ${c.flush_samples}`);
  }
  return r;
}

function bridge(t) {
  const r = { cases: 0, checks: 0, failures: [], worst_grey_levels: 0, pixels_off: 0, pixels: 0 };
  for (const c of t.features) {
    r.cases++;
    const b = core.newFeatureBridge(c.history, t.min_open_range, t.spread_gain, t.closed_opening);
    c.measurements.forEach((m, k) => {
      r.checks++;
      const got = b.features(m[0], m[1], m[2]);
      const want = c.expect[k];
      if (Math.abs(got[0] - want[0]) > 1e-12 || Math.abs(got[1] - want[1]) > 1e-12) {
        r.failures.push(`${c.name} frame ${k}: (${got[0]}, ${got[1]}), expected (${want[0]}, ${want[1]})`);
      }
    });
  }
  for (const [i, f] of t.frames.entries()) {
    r.cases++;
    r.checks++;
    const got = core.renderMouth(JSON.stringify(f.params), t.crop_size, f.opening, f.spread, f.t);
    const want = Buffer.from(f.pixels, 'base64');
    let worst = 0;
    for (let k = 0; k < got.length; k++) {
      const d = Math.abs(got[k] - want[k]);
      worst = Math.max(worst, d);
      if (d > 0) r.pixels_off++;
    }
    r.pixels += got.length;
    r.worst_grey_levels = Math.max(r.worst_grey_levels, worst);
    if (worst > 1) r.failures.push(`frame ${i}: a pixel differs by ${worst} grey levels`);
  }
  return r;
}

function faces(t) {
  const r = { cases: 0, checks: 0, failures: [] };
  const same = (a, b) => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);
  for (const c of t.tracking) {
    r.cases++;
    const slots = new core.WebFaceSlots(c.slots, 1), schedule = new core.WebSlotFaces(c.slots);
    c.frames.forEach((f, k) => {
      r.checks++;
      const x = c.expect[k], at = `${c.name} frame ${k}`;
      const got = slots.frame(Float64Array.from(f.faces.flat()), f.t);
      for (let s = 0; s < c.slots; s++) if (got.faceOf[s] >= 0 && !f.unmeasured.includes(s)) slots.measured(s);
      const ids = slots.faceIds();
      const checks = { face_of: got.faceOf, started: got.started, track_ids: slots.trackIds(), face_ids: ids, reset: schedule.update(ids) };
      for (const [key, value] of Object.entries(checks)) if (!same(value, x[key])) r.failures.push(`${at} ${key}: ${Array.from(value)}, expected ${x[key]}`);
    });
  }
  for (const c of t.mouths) {
    r.cases++;
    r.checks++;
    const [gap, width, eyeSpan, cx, cy, angle] = core.measureMouth(Float64Array.from(c.points));
    const x = c.expect;
    const want = { gap: x.gap, width: x.width, eye_span: x.eye_span, centre_x: x.centre[0], centre_y: x.centre[1], angle: x.angle };
    const got = { gap, width, eye_span: eyeSpan, centre_x: cx, centre_y: cy, angle };
    for (const k of Object.keys(want)) if (Math.abs(got[k] - want[k]) > 1e-9) r.failures.push(`${c.name} ${k}: ${got[k]}, expected ${want[k]}`);
    const transform = core.mouthCropTransform(Float64Array.from(c.points), c.size);
    if (transform.some((v, k) => Math.abs(v - x.transform[k]) > 1e-9)) r.failures.push(`${c.name} transform: ${Array.from(transform)}, expected ${x.transform}`);
  }
  // the mouth crop: Python's transform sampled pixel for pixel as PIL does; the core's own within one grey level
  r.crop_pixels = 0;
  r.crop_pixels_off = 0;
  for (const c of t.crops) {
    r.cases++;
    r.checks++;
    const rgb = Buffer.from(c.rgb, 'base64'), want = Buffer.from(c.pixels, 'base64');
    const argb = Int32Array.from({ length: c.width * c.height }, (_, i) => (0xff << 24) | (rgb[3 * i] << 16) | (rgb[3 * i + 1] << 8) | rgb[3 * i + 2]);
    const got = core.sampleMouthCrop(argb, c.width, c.height, Float64Array.from(c.transform), c.size);
    const own = core.sampleMouthCrop(argb, c.width, c.height, core.mouthCropTransform(Float64Array.from(c.points), c.size), c.size);
    for (let k = 0; k < got.length; k++) {
      if (got[k] !== Math.fround(want[k] / 255)) r.crop_pixels_off++;
      if (Math.abs(Math.round(own[k] * 255) - want[k]) > 1) r.failures.push(`${c.name} pixel ${k}: ${Math.round(own[k] * 255)}, PIL ${want[k]}`);
    }
    r.crop_pixels += got.length;
  }
  if (r.crop_pixels_off) r.failures.push(`${r.crop_pixels_off} of ${r.crop_pixels} crop pixels differ from PIL's`);
  // the camera clock
  for (const c of t.clock) {
    r.cases++;
    const clock = new core.WebAvClock(c.sample_rate);
    c.events.forEach((e, k) => {
      r.checks++;
      const at = `${c.name} event ${k}`;
      let got, want;
      if (e.captured) [got, want] = [clock.captured(e.captured.position, e.captured.stamp_ns, e.captured.input_latency_ns), e.anchored];
      else if (e.read) [got, want] = [clock.read(e.read.frames_read, e.read.now_ns, e.read.input_latency_ns), e.anchored];
      else if (e.frame) [got, want] = [clock.toAudioNs(e.frame.camera_ns, e.frame.timebase, e.frame.boot_minus_uptime_ns) ?? null, e.audio_ns];
      else { r.failures.push(`${at}: unknown event`); return; }
      if (got !== want) r.failures.push(`${at}: ${got}, expected ${want}`);
    });
  }
  return r;
}

const run = {
  schedule: (p) => schedule(load(p, 'avsep-schedule-cases/1')),
  bridge: (p) => bridge(load(p, 'avsep-bridge-cases/1')),
  faces: (p) => faces(load(p, 'avsep-face-cases/1')),
};
const out = {};
for (const [name, path] of Object.entries(tables)) {
  if (!run[name]) throw new Error(`no runner for the ${name} case table`);
  out[name] = run[name](path);
}
console.log(JSON.stringify(out));
process.exit(Object.values(out).some((r) => r.failures.length) ? 1 : 0);
