// Glue (a port of PIL's resampling): the face models' inputs drawn as avsep separate draws them: resize with the
// BILINEAR filter (support widened when shrinking, 22-bit fixed-point weights, two passes through 8 bits) and the
// affine transform with BILINEAR (pixel centres, clamped edges, truncated, black outside). Images: {data RGBA, width, height}.

export function image(width, height) {
  return { data: new Uint8ClampedArray(width * height * 4), width, height };
}

/** The rectangle [x0, x0 + w) x [y0, y0 + h) as a new image. */
export function crop(img, x0, y0, w, h) {
  const out = image(w, h);
  for (let y = 0; y < h; y++) out.data.set(img.data.subarray(((y0 + y) * img.width + x0) * 4, ((y0 + y) * img.width + x0 + w) * 4), y * w * 4);
  return out;
}

/** img pasted at (x, y) on a black side x side square (PIL: Image.new('RGB', ...) then paste). */
export function letterbox(img, side, x, y) {
  const out = image(side, side);
  for (let k = 3; k < out.data.length; k += 4) out.data[k] = 255;
  for (let r = 0; r < img.height; r++) out.data.set(img.data.subarray(r * img.width * 4, (r + 1) * img.width * 4), ((y + r) * side + x) * 4);
  return out;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** PIL's precompute_coeffs for the bilinear (triangle) filter: per output pixel, the first input and integer weights. */
function coeffs(inSize, outSize) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = filterscale, ss = 1 / filterscale;
  const bounds = [], weights = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = [];
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      k.push(w);
      ww += w;
    }
    bounds.push([xmin, xmax]);
    weights.push(k.map((w) => (ww !== 0 ? w / ww : w)).map((w) => Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE)));
  }
  return { bounds, weights };
}

const clip8 = (v) => Math.min(255, Math.max(0, Math.floor(v / ONE)));

/** PIL Image.resize((w, h), BILINEAR) of an RGB image: horizontal pass, then vertical, each rounded to 8 bits. */
export function resize(img, w, h) {
  const hc = coeffs(img.width, w), vc = coeffs(img.height, h);
  const mid = image(w, img.height);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < w; x++) {
      const [x0, n] = hc.bounds[x], k = hc.weights[x];
      for (let b = 0; b < 3; b++) {
        let s = ONE / 2;
        for (let i = 0; i < n; i++) s += img.data[(y * img.width + x0 + i) * 4 + b] * k[i];
        mid.data[(y * w + x) * 4 + b] = clip8(s);
      }
      mid.data[(y * w + x) * 4 + 3] = 255;
    }
  }
  const out = image(w, h);
  for (let y = 0; y < h; y++) {
    const [y0, n] = vc.bounds[y], k = vc.weights[y];
    for (let x = 0; x < w; x++) {
      for (let b = 0; b < 3; b++) {
        let s = ONE / 2;
        for (let i = 0; i < n; i++) s += mid.data[((y0 + i) * w + x) * 4 + b] * k[i];
        out.data[(y * w + x) * 4 + b] = clip8(s);
      }
      out.data[(y * w + x) * 4 + 3] = 255;
    }
  }
  return out;
}

/** PIL Image.transform((size, size), AFFINE, m, BILINEAR) of an RGB image: m (6 numbers, row-major 2x3) takes an
 *  output pixel's centre to input pixels. */
export function affine(img, m, size) {
  const out = image(size, size);
  const { width: W, height: H, data } = img;
  const clampX = (x) => (x < 0 ? 0 : x < W ? x : W - 1);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 4;
      out.data[o + 3] = 255;
      let xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
      let yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
      if (!(xin >= 0 && xin < W && yin >= 0 && yin < H)) continue; // black
      xin -= 0.5;
      yin -= 0.5;
      const xi = Math.floor(xin), yi = Math.floor(yin), dx = xin - xi, dy = yin - yi;
      const x0 = clampX(xi) * 4, x1 = clampX(xi + 1) * 4;
      const row = (yi < 0 ? 0 : yi < H ? yi : H - 1) * W * 4;
      const next = yi + 1 >= 0 && yi + 1 < H ? (yi + 1) * W * 4 : -1;
      for (let b = 0; b < 3; b++) {
        const top = data[row + x0 + b] + (data[row + x1 + b] - data[row + x0 + b]) * dx;
        const bottom = next < 0 ? top : data[next + x0 + b] + (data[next + x1 + b] - data[next + x0 + b]) * dx;
        out.data[o + b] = Math.trunc(top + (bottom - top) * dy);
      }
    }
  }
  return out;
}

/** RGB as float32 [h, w, 3] with (v * scale + shift) in float32, as numpy computes it. */
export function toFloat(img, div, shift) {
  const n = img.width * img.height, out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) for (let b = 0; b < 3; b++) out[i * 3 + b] = Math.fround(Math.fround(img.data[i * 4 + b] / div) + shift);
  return out;
}
