// Glue: a file separated in the page on the streaming path, as `avsep separate` does: a video (faces found by faces.js, put
// in slots by the Kotlin core's tracker, mouths drawn by its bridge) or audio with a lips.npz (every slot tracked).
import * as core from '../build/core/avsep-core.mjs';
import { Collector, NS, Streamer } from './stream.js';
import { boxOf, faceFromLandmarks, mouthPoints } from './faces.js';
import { decodeAudio, openVideo } from './video.js';

const recording = () => ({ offsetNs: 0, maxVideoWaitNs: core.neverNs() }); // a file: chunks wait for their frame

/** Per accepted frame: slots for the faces, each measured face's mouth drawn into its slot's crop (held otherwise). */
export class VideoFaces {
  constructor(S, cropSize, bridgeJson, finder) {
    this.S = S;
    this.cropValues = cropSize * cropSize;
    this.finder = finder;
    this.slots = new core.WebFaceSlots(S, this.cropValues);
    const config = new core.WebBridgeConfig(bridgeJson);
    this.bridges = Array.from({ length: S }, (_, s) => config.bridge(s));
    this.crops = new Float32Array(S * this.cropValues);
    this.followed = new Array(S).fill(null); // each slot's box from its last mesh (MediaPipe's face following)
    this.framesWithFace = 0;
    this.framesWithoutFace = 0;
    this.slotFaces = Array.from({ length: S }, () => new Set());
    this.cropMeans = [];
  }

  /** -> {ids: face id per slot (-1: none), boxes: per slot [x0, y0, x1, y1] or null}. */
  async frame(img, t) {
    const held = this.followed.filter(Boolean);
    // the detector runs only while some slot has no followed face; a detection of a followed face is dropped
    const detections = this.followed.some((f) => f === null)
      ? (await this.finder.detect(img)).filter((d) => held.every((h) => !sameFace(h, d))) : [];
    const faces = [...held, ...detections];
    const a = this.slots.frame(Float64Array.from(faces.flatMap(boxOf)), t);
    for (const s of a.started) this.bridges[s].reset();
    this.followed.fill(null);
    const boxes = new Array(this.S).fill(null);
    for (let s = 0; s < this.S; s++) {
      if (a.faceOf[s] < 0) continue;
      const face = faces[a.faceOf[s]];
      const p = await this.finder.landmarks(img, face);
      if (!p) continue; // the mesh does not confirm the face: empty this frame, search the next
      this.followed[s] = faceFromLandmarks(p);
      const [gap, width, eyeSpan] = core.measureMouth(mouthPoints(p));
      this.bridges[s].crop(gap, width, eyeSpan, t, this.crops, s * this.cropValues);
      this.slots.measured(s);
      boxes[s] = boxOf(face);
    }
    const ids = this.slots.faceIds();
    ids.forEach((id, s) => { if (id >= 0) this.slotFaces[s].add(id); });
    // each slot's mean crop level: a fingerprint of what lip_step sees (the summary keeps one per accepted frame)
    this.cropMeans.push(Array.from({ length: this.S }, (_, s) => this.crops.subarray(s * this.cropValues, (s + 1) * this.cropValues).reduce((a, b) => a + b, 0) / this.cropValues));
    if (ids.some((id) => id >= 0)) this.framesWithFace++; else this.framesWithoutFace++;
    return { ids, boxes };
  }
}

function sameFace(a, b) {
  const ix = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)), iy = Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - ix * iy;
  const size = Math.max(a.x1 - a.x0, a.y1 - a.y0);
  return (union > 0 ? (ix * iy) / union : 0) >= 0.3 || Math.hypot((a.x0 + a.x1 - b.x0 - b.x1) / 2, (a.y0 + a.y1 - b.y0 - b.y1) / 2) < 0.5 * size;
}

/** A video file -> {speakers: [S] Float32Array, residual, summary}; onFrame(img, boxes) draws each accepted frame. */
export async function separateVideo(model, m, bridgeJson, finder, url, bytes, onFrame = () => {}) {
  const sr = m.sample_rate;
  const pcm = await decodeAudio(bytes, sr);
  const video = await openVideo(url, m.lip_fps);
  const st = new Streamer(model, m, recording());
  const faces = new VideoFaces(m.speakers, m.crop_size, bridgeJson, finder);
  const out = new Collector(m.speakers);
  const it = video.frames();
  let next = await it.next(), decoded = 0, used = 0;
  const t0 = performance.now();
  for (let start = 0; start < pcm.length; start += sr) { // 1 s blocks, frames up to the audio clock and one past it
    const block = pcm.subarray(start, Math.min(start + sr, pcm.length));
    const clock = (start + block.length) / sr;
    while (!next.done) {
      const f = next.value;
      decoded++;
      const tNs = Math.round(f.t * NS);
      if (st.accept(tNs)) {
        used++;
        const { ids, boxes } = await faces.frame(f.img, f.t);
        onFrame(f.img, boxes);
        out.add(await st.frame(tNs, faces.crops, ids));
      }
      next = await it.next();
      if (f.t > clock) break;
    }
    out.add(await st.audio(block));
  }
  out.add(await st.flush());
  const seconds = pcm.length / sr;
  const summary = {
    seconds, process_seconds: (performance.now() - t0) / 1000,
    video: { width: video.width, height: video.height, frames_decoded: decoded, frames_used: used, lip_fps: m.lip_fps,
      frames_with_face: faces.framesWithFace, frames_without_face: faces.framesWithoutFace, detector_runs: finder.detectorRuns },
    faces: faces.slots.tracksStarted(),
    crop_means: faces.cropMeans,
    slots: faces.slotFaces.map((ids, s) => ({ slot: s + 1, faces: [...ids].sort(), active_share: st.activeChunks[s] / Math.max(1, st.plans.length) })),
  };
  video.close();
  st.close();
  return { ...out.result(), summary };
}

/** Audio with lips {data uint8 [N, T, c, c], fps}: every slot tracked all along and every frame run, as
 *  stream_separate schedules a recording (the flush's chunks hold the frames up to their own end). */
export async function separateAudio(model, m, pcm, lips, fps) {
  const [N, T] = lips.shape, c = m.crop_size, chunk = m.chunk_samples, cc = c * c;
  if (N !== m.speakers || lips.shape[2] !== c) throw new Error(`lips must be [${m.speakers}, T, ${c}, ${c}], got [${lips.shape}]`);
  const st = new Streamer(model, m, recording());
  const out = new Collector(N);
  const ids = Int32Array.from({ length: N }, (_, s) => s);
  const crops = new Float32Array(N * cc);
  const total = pcm.length + core.flushSamples(pcm.length, chunk, m.output_delay_samples);
  const t0 = performance.now();
  let j = 0;
  for (let start = 0; start < total; start += chunk) {
    for (; j < T && Math.round((j * NS) / fps) * m.sample_rate <= (start + chunk) * NS; j++) {
      for (let s = 0; s < N; s++) for (let k = 0; k < cc; k++) crops[s * cc + k] = lips.data[(s * T + j) * cc + k] / 255;
      out.add(await st.frame(Math.round((j * NS) / fps), crops, ids));
    }
    const real = pcm.subarray(Math.min(start, pcm.length), Math.min(start + chunk, pcm.length));
    if (real.length) out.add(await st.audio(real));
    if (real.length < chunk) out.add(await st.audio(new Float32Array(chunk - real.length), true));
  }
  out.add(await st.endOfVideo());
  st.close();
  return { ...out.result(), summary: { seconds: pcm.length / m.sample_rate, process_seconds: (performance.now() - t0) / 1000 } };
}
