// Screen: the page's controls wired to the modules, and the same actions as window.avsep for scripted runs
// (the headless-browser tests call them): open a bundle, replay/benchmark, separate a file, go live.
import { BundleError, fromFiles, fromUrl } from './bundle.js';
import { compile } from './runtime.js';
import { deviceReport, loadVectors, replay } from './replay.js';
import { separateAudio, separateVideo } from './separate.js';
import { FaceFinder } from './faces.js';
import { readNpz } from './npz.js';
import { decodeAudio } from './video.js';
import { wav } from './wav.js';
import { Live } from './live.js';
import { SLOT_COLOURS, drawFrame } from './draw.js';

const $ = (id) => document.getElementById(id);
const state = { bundle: null, model: null, faces: new Map() };

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

/** A File, or a URL to fetch: -> {bytes, url} (the url is what a <video> element plays). */
async function source(x) {
  if (typeof x === 'string') {
    const r = await fetch(x);
    if (!r.ok) throw new Error(`${x}: HTTP ${r.status}`);
    return { bytes: await r.arrayBuffer(), url: new URL(x, location.href).href };
  }
  return { bytes: await x.arrayBuffer(), url: URL.createObjectURL(x) };
}

/** Each voice playable and downloadable as WAV, labelled in its slot colour; returns the WAVs as base64. */
async function showVoices(divId, result, sampleRate) {
  const div = $(divId);
  div.replaceChildren();
  const files = {};
  const named = [...result.speakers.map((x, s) => [`speaker${s + 1}.wav`, x, SLOT_COLOURS[s % SLOT_COLOURS.length]]), ['residual.wav', result.residual, '#777']];
  for (const [name, samples, colour] of named) {
    const blob = wav(samples, sampleRate), url = URL.createObjectURL(blob);
    const row = document.createElement('p');
    row.innerHTML = `<span style="color:${colour}">&#9632;</span> ${name} <audio controls src="${url}"></audio> <a href="${url}" download="${name}">download</a>`;
    div.append(row);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    files[name] = btoa(bin);
  }
  return files;
}

async function faceFinder(base) {
  const key = new URL(base, location.href).href;
  if (!state.faces.has(key)) state.faces.set(key, FaceFinder.load(key));
  return state.faces.get(key);
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
  /** audio, lips: Files or URLs -> {files: {name: base64 WAV}, summary}. */
  separateAudio: guarded('separate-status', async (audio, lips) => {
    const { bundle, model } = need();
    const m = bundle.manifest;
    const pcm = await decodeAudio((await source(audio)).bytes, m.sample_rate);
    const z = await readNpz((await source(lips)).bytes);
    if (!z.lips || !z.fps) throw new Error("the lips file needs arrays 'lips' (uint8 [N, T, 88, 88]) and 'fps': write it with `avsep data lips`");
    const r = await separateAudio(model, m, pcm, z.lips, Number(z.fps.data[0]));
    show('separate-status', `${r.summary.seconds.toFixed(2)} s separated in ${r.summary.process_seconds.toFixed(2)} s`);
    return { files: await showVoices('voices', r, m.sample_rate), summary: r.summary };
  }),
  /** video: a File or URL; faceModels: the folder URL of the two MediaPipe .tflite files. */
  separateVideo: guarded('separate-status', async (video, faceModels = $('face-models').value) => {
    const { bundle, model } = need();
    const m = bundle.manifest;
    const finder = await faceFinder(faceModels);
    finder.detectorRuns = 0;
    const bridgeJson = new TextDecoder().decode(await bundle.read(m.bridge));
    const { bytes, url } = await source(video);
    const r = await separateVideo(model, m, bridgeJson, finder, url, bytes, (img, boxes) => drawFrame($('video-canvas'), img, boxes));
    const v = r.summary.video;
    show('separate-status', `${r.summary.seconds.toFixed(2)} s separated in ${r.summary.process_seconds.toFixed(2)} s; ` +
      `${v.frames_with_face} of ${v.frames_used} frames with a face, ${r.summary.faces} faces, detector run on ${v.detector_runs} frames`);
    return { files: await showVoices('voices', r, m.sample_rate), summary: r.summary };
  }),
  /** Microphone and camera (the browser asks for both); stop with liveStop. */
  liveStart: guarded('live-status', async (faceModels = $('face-models').value) => {
    const { bundle, model } = need();
    const m = bundle.manifest;
    const finder = await faceFinder(faceModels);
    const bridgeJson = new TextDecoder().decode(await bundle.read(m.bridge));
    state.live = await Live.start(model, m, bridgeJson, finder, {
      onFrame: (img, boxes) => drawFrame($('live-canvas'), img, boxes),
      onChunk: (_, counts) => show('live-status', `live: ${(counts.samples / m.sample_rate).toFixed(1)} s heard, ` +
        `${counts.accepted} frames measured (${counts.dropped} skipped while busy)`),
    });
    state.live.hear(Number($('live-hear').value));
    $('live-stop').disabled = false;
    return { sampleRate: state.live.ctx.sampleRate, tracks: state.live.stream.getTracks().map((t) => `${t.kind}: ${t.label}`) };
  }),
  /** -> {files (the session's voices as WAV), counts, plans (each chunk's held frame, active, reset)}. */
  liveStop: guarded('live-status', async () => {
    if (!state.live) throw new Error('live is not running');
    const r = await state.live.stop();
    state.live = null;
    $('live-stop').disabled = true;
    const m = state.bundle.manifest;
    show('live-status', `stopped: ${(r.counts.samples / m.sample_rate).toFixed(1)} s, ${r.counts.accepted} frames measured`);
    return { files: await showVoices('live-voices', r, m.sample_rate), counts: r.counts, plans: r.plans, samples: r.residual.length };
  }),
};
window.avsep = { ...actions, state };

$('open').onclick = () => {
  const folder = $('bundle-folder').files;
  actions.open(folder.length ? folder : $('bundle-url').value, $('public-key').value).catch(() => {});
};
$('run-benchmark').onclick = () => actions.benchmark(Number($('passes').value)).catch(() => {});
$('separate-audio').onclick = () => actions.separateAudio($('audio-file').files[0], $('lips-file').files[0]).catch(() => {});
$('live-start').onclick = () => actions.liveStart().catch(() => {});
$('live-stop').onclick = () => actions.liveStop().catch(() => {});
$('live-hear').onchange = () => state.live?.hear(Number($('live-hear').value));
$('separate-video').onclick = () => actions.separateVideo($('video-file').files[0]).catch(() => {});
const preset = new URLSearchParams(location.search).get('bundle');
if (preset) $('bundle-url').value = preset;
window.avsepReady = true;
