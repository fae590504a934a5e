// Glue (a port of avsep_mobile/runtime/faces.py's model I/O): faces in video frames, found as avsep separate finds them:
// MediaPipe's BlazeFace short-range detector (tiled on wide frames) and its 468-point face mesh, the .tflite files of the mediapipe 0.10.21
// wheel, run by LiteRT.js on inputs resampled by PIL's rules (images.js). Boxes and landmarks in frame pixels.
import { Tensor, compile } from './runtime.js';
import { affine, crop, letterbox, resize, toFloat } from './images.js';

export const DETECTOR_FILE = 'face_detection_short_range.tflite';
export const MESH_FILE = 'face_landmark.tflite';
const DET_SIZE = 128, DET_SCORE = 0.5, NMS_IOU = 0.3;
const MESH_SIZE = 192, MESH_SCALE = 1.5, MESH_PRESENCE = 0.5;
// face-mesh indices (MediaPipe's canonical face model)
export const MESH = { upperInnerLip: 13, lowerInnerLip: 14, mouthCorners: [61, 291], outerEyeCorners: [33, 263] };
const RIGHT_EYE = [33, 133], LEFT_EYE = [362, 263], NOSE_TIP = 1, RIGHT_EAR = 234, LEFT_EAR = 454;

const sigmoid = (x) => 1 / (1 + Math.exp(-x));

/** {x0, y0, x1, y1, score, keypoints: [[x, y] x 6]}: right eye, left eye, nose tip, mouth centre, right ear, left ear. */
const centre = (f) => [(f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2];
const faceSize = (f) => Math.max(f.x1 - f.x0, f.y1 - f.y0);

function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0));
  const iy = Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const inter = ix * iy, union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return union > 0 ? inter / union : 0;
}

/** (896, 2) anchor centres of the short-range model (strides 8 and 16; 2 and 6 anchors per cell). */
function anchors() {
  const out = [];
  for (const [stride, perCell] of [[8, 2], [16, 6]]) {
    const g = DET_SIZE / stride;
    for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) for (let k = 0; k < perCell; k++) out.push([Math.fround((x + 0.5) / g), Math.fround((y + 0.5) / g)]);
  }
  return out;
}

async function loadModel(base, file) {
  const r = await fetch(new URL(file, base));
  if (!r.ok) throw new Error(`face model ${file} not found at ${base} (HTTP ${r.status}): copy it from the mediapipe 0.10.21 wheel (see README)`);
  return compile(await r.arrayBuffer());
}

async function runOne(model, data, shape) {
  const name = model.getInputDetails()[0].name;
  const input = new Tensor(data, shape);
  const out = await model.run({ [name]: input });
  input.delete();
  const arrays = {};
  for (const [k, t] of Object.entries(out)) { arrays[k] = Float32Array.from(t.toTypedArray()); t.delete(); }
  return arrays;
}

export class FaceFinder {
  static async load(base) {
    const f = new FaceFinder();
    [f.det, f.mesh] = await Promise.all([loadModel(base, DETECTOR_FILE), loadModel(base, MESH_FILE)]);
    f.anchors = anchors();
    f.detectorRuns = 0;
    return f;
  }

  /** Faces in a frame, best first; a wide or tall frame is also searched in overlapping square tiles. */
  async detect(img) {
    this.detectorRuns++;
    const { width: w, height: h } = img, short = Math.min(w, h), long = Math.max(w, h);
    let found = [];
    if (long <= 1.4 * short) found = await this.square(img, 0, 0);
    else {
      const n = Math.ceil(long / short) + 1;
      for (let i = 0; i < n; i++) {
        const start = Math.round(((long - short) * i) / (n - 1)); // numpy linspace(...).round(): half to even only matters at .5
        const tile = w >= h ? crop(img, start, 0, short, h) : crop(img, 0, start, w, short);
        found.push(...(await this.square(tile, w >= h ? start : 0, w >= h ? 0 : start)));
      }
    }
    const faces = [];
    for (const f of found.sort((a, b) => b.score - a.score)) if (faces.every((g) => iou(f, g) < NMS_IOU)) faces.push(f);
    return faces;
  }

  async square(img, ox, oy) {
    const { width: w, height: h } = img, side = Math.max(w, h), padX = (side - w) / 2, padY = (side - h) / 2;
    const sq = w === h ? img : letterbox(img, side, Math.trunc(padX), Math.trunc(padY));
    const out = await runOne(this.det, toFloat(resize(sq, DET_SIZE, DET_SIZE), 127.5, -1), [1, DET_SIZE, DET_SIZE, 3]);
    const raw = out.regressors, cls = out.classificators;
    const keep = [];
    for (let i = 0; i < cls.length; i++) {
      const logit = Math.min(100, Math.max(-100, cls[i]));
      if (logit >= Math.log(DET_SCORE / (1 - DET_SCORE))) keep.push([i, logit]);
    }
    keep.sort((a, b) => b[1] - a[1]);
    const px = (v) => v * side - padX + ox, py = (v) => v * side - padY + oy;
    const faces = [];
    for (const [i, logit] of keep) {
      const a = this.anchors[i], r = raw.subarray(i * 16, i * 16 + 16);
      const cx = r[0] / DET_SIZE + a[0], cy = r[1] / DET_SIZE + a[1], bw = r[2] / DET_SIZE, bh = r[3] / DET_SIZE;
      const keypoints = Array.from({ length: 6 }, (_, k) => [px(r[4 + 2 * k] / DET_SIZE + a[0]), py(r[5 + 2 * k] / DET_SIZE + a[1])]);
      const f = { x0: px(cx - bw / 2), y0: py(cy - bh / 2), x1: px(cx + bw / 2), y1: py(cy + bh / 2), score: sigmoid(logit), keypoints };
      if (faces.every((g) => iou(f, g) < NMS_IOU)) faces.push(f);
    }
    return faces;
  }

  /** Float64Array(468 * 3) landmarks in frame pixels (z in crop pixels), or null when the mesh sees no face in the box. */
  async landmarks(img, face) {
    const [er, el] = face.keypoints;
    const angle = Math.atan2(el[1] - er[1], el[0] - er[0]);
    const [cx, cy] = centre(face), side = faceSize(face) * MESH_SCALE;
    const c = Math.cos(angle), s = Math.sin(angle), k = side / MESH_SIZE;
    const m = [c * k, -s * k, 0, s * k, c * k, 0];
    m[2] = cx - (m[0] * MESH_SIZE / 2 + m[1] * MESH_SIZE / 2);
    m[5] = cy - (m[3] * MESH_SIZE / 2 + m[4] * MESH_SIZE / 2);
    const out = await runOne(this.mesh, toFloat(affine(img, m, MESH_SIZE), 255, 0), [1, MESH_SIZE, MESH_SIZE, 3]);
    const arrays = Object.values(out);
    const flag = arrays.find((a) => a.length === 1), pts = arrays.find((a) => a.length === 1404);
    if (sigmoid(flag[0]) < MESH_PRESENCE) return null;
    const xyz = new Float64Array(1404);
    for (let i = 0; i < 468; i++) {
      const x = pts[3 * i], y = pts[3 * i + 1];
      xyz[3 * i] = Math.fround(x * m[0] + y * m[1] + m[2]);
      xyz[3 * i + 1] = Math.fround(x * m[3] + y * m[4] + m[5]);
      xyz[3 * i + 2] = pts[3 * i + 2];
    }
    return xyz;
  }
}

/** The box to run the next frame's mesh in, from this frame's mesh (faces.face_from_landmarks). */
export function faceFromLandmarks(p) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < 468; i++) {
    x0 = Math.min(x0, p[3 * i]); x1 = Math.max(x1, p[3 * i]);
    y0 = Math.min(y0, p[3 * i + 1]); y1 = Math.max(y1, p[3 * i + 1]);
  }
  const at = (i) => [p[3 * i], p[3 * i + 1]];
  const mid = (i, j) => [(p[3 * i] + p[3 * j]) / 2, (p[3 * i + 1] + p[3 * j + 1]) / 2];
  return { x0, y0, x1, y1, score: 1, keypoints: [mid(...RIGHT_EYE), mid(...LEFT_EYE), at(NOSE_TIP), mid(MESH.upperInnerLip, MESH.lowerInnerLip), at(RIGHT_EAR), at(LEFT_EAR)] };
}

/** The six landmarks the mouth bridge measures, flat x, y: mouth corners, inner lips, outer eye corners. */
export function mouthPoints(p) {
  const idx = [...MESH.mouthCorners, MESH.upperInnerLip, MESH.lowerInnerLip, ...MESH.outerEyeCorners];
  return Float64Array.from(idx.flatMap((i) => [p[3 * i], p[3 * i + 1]]));
}

export const boxOf = (f) => [f.x0, f.y0, f.x1, f.y1];
