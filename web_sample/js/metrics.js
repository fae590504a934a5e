// Glue: parity and timing figures of the page, by the formulas of the Kotlin core's Report.kt (and export/parity.py).
export const EXACT_SNR_DB = 300; // an exact match has no finite SNR

export function parity(ref, out) {
  if (ref.length !== out.length) throw new Error(`parity of ${out.length} values against ${ref.length}`);
  let num = 0, den = 0, maxErr = 0, peak = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i], e = r - out[i];
    num += r * r;
    den += e * e;
    maxErr = Math.max(maxErr, Math.abs(e));
    peak = Math.max(peak, Math.abs(r));
  }
  const db = (ratio) => (den === 0 ? EXACT_SNR_DB : Math.min(EXACT_SNR_DB, 10 * Math.log10(ratio)));
  return { snr_db: db(Math.max(num, 1e-30) / den), psnr_db: db(Math.max(peak * peak, 1e-30) / (den / ref.length)), max_abs_err: maxErr };
}

/** Linear interpolation between order statistics. */
export function quantile(xs, q) {
  const v = [...xs].sort((a, b) => a - b);
  if (!v.length) return 0;
  const pos = q * (v.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, v.length - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

export const median = (xs) => quantile(xs, 0.5);
