// Wires the page's controls to the modules, and exposes the same actions as window.avsep for scripted runs
// (the headless-browser tests call them): open a bundle, replay/benchmark, separate a file, go live.
import { BundleError, fromFiles, fromUrl } from './bundle.js';
import { compile } from './runtime.js';
import { deviceReport, loadVectors, replay, replayParity } from './replay.js';

const $ = (id) => document.getElementById(id);
const state = { bundle: null, model: null };

function show(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle('error', error);
}

async function open(source, publicKey = '') {
  state.bundle = null;
  state.model?.delete();
  state.model = null;
  const bundle = typeof source === 'string' ? fromUrl(source) : fromFiles(source);
  const m = await bundle.open(publicKey);
  state.model = await compile(await bundle.read(m.model_files.av_step));
  state.bundle = bundle;
  for (const id of ['run-benchmark', 'separate-audio', 'separate-video', 'live-start']) $(id).disabled = false;
  return { target: m.target, precision: m.precision, speakers: m.speakers, files: Object.keys(m.files).length, signature: bundle.signature };
}

function need() {
  if (!state.model) throw new BundleError('open a bundle first');
  return state;
}

/** Replays the test vectors `passes` times: parity of the first pass, timing of all, as device_report.json. */
async function benchmark(passes = 3) {
  const { bundle, model } = need();
  const m = bundle.manifest;
  const vec = await loadVectors(bundle, m);
  await replay(model, m, vec); // warm-up: WebAssembly tiers up during the first calls
  const runs = [];
  for (let i = 0; i < passes; i++) runs.push(await replay(model, m, vec));
  return deviceReport(bundle, m, vec, runs, await browserVersion());
}

/** One replay's outputs as base64 little-endian float32 (what a test compares with x86 LiteRT). */
async function replayOutputs() {
  const { bundle, model } = need();
  const r = await replay(model, bundle.manifest, await loadVectors(bundle, bundle.manifest));
  const b64 = (a) => btoa(Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), (c) => String.fromCharCode(c)).join(''));
  return { speakers: b64(r.speakers), residual: b64(r.residual), lip_emb: b64(r.lipEmb), held_lips: r.heldLips };
}

/** The browser's full version where it tells (User-Agent Client Hints), else what navigator.userAgent says. */
async function browserVersion() {
  const brands = (await navigator.userAgentData?.getHighEntropyValues(['fullVersionList']).catch(() => null))?.fullVersionList ?? [];
  const b = brands.find((x) => /Chrom|Edge|Opera/.test(x.brand) && !/Not/.test(x.brand));
  return b ? `${b.brand} ${b.version}` : null;
}

function renderParity(report) {
  const rows = Object.entries(report.parity).map(([k, p]) => `<tr><th>${k}</th><td>${p.snr_db.toFixed(1)}</td><td>${p.psnr_db.toFixed(1)}</td><td>${p.max_abs_err.toExponential(2)}</td></tr>`);
  $('parity-table').innerHTML = '<tr><th>output</th><th>SNR dB</th><th>PSNR dB</th><th>max abs err</th></tr>' + rows.join('');
  show('benchmark-status', `RTF stream ${report.rtf.stream.toFixed(4)} (av_step ${report.step_ms.av_step.toFixed(3)} ms, lip_step ${report.step_ms.lip_step.toFixed(3)} ms per call), ` +
    `${report.runs} passes, ${report.device}, ${report.runner}; held frames = lip_call: ${report.schedule.held_frames_equal_lip_call}`);
  const link = $('report-link');
  URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([JSON.stringify(report, null, 1)], { type: 'application/json' }));
  link.hidden = false;
}

const guarded = (status, fn) => async (...args) => {
  try {
    show(status, 'working...');
    return await fn(...args);
  } catch (e) {
    show(status, e instanceof BundleError ? e.message : `${e.name}: ${e.message}`, true);
    throw e;
  }
};

const actions = {
  open: guarded('bundle-status', async (source, key) => {
    const r = await open(source, key);
    show('bundle-status', `${r.target} ${r.precision}, ${r.speakers} slots, ${r.files} files sha256-checked; signature: ${r.signature}`);
    return r;
  }),
  benchmark: guarded('benchmark-status', async (passes) => {
    const r = await benchmark(passes);
    renderParity(r);
    return r;
  }),
  replayOutputs: guarded('benchmark-status', replayOutputs),
};
window.avsep = { ...actions, state };

$('open').onclick = () => {
  const folder = $('bundle-folder').files;
  actions.open(folder.length ? folder : $('bundle-url').value, $('public-key').value).catch(() => {});
};
$('run-benchmark').onclick = () => actions.benchmark(Number($('passes').value)).catch(() => {});
const preset = new URLSearchParams(location.search).get('bundle');
if (preset) $('bundle-url').value = preset;
window.avsepReady = true;
