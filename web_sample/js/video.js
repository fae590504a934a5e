// Glue: a video file decoded in the page: its sound at the model's rate (Web Audio), and its pictures on the camera grid
// (seeking a <video> element, each picture stamped with its own presentation time from requestVideoFrameCallback).
export class MediaError extends Error {}

/** Mono float32 PCM at sampleRate: the channels' mean, resampled by the browser where the file's rate differs. */
export async function decodeAudio(bytes, sampleRate) {
  const ctx = new OfflineAudioContext(1, 1, sampleRate);
  let buf;
  try {
    buf = await ctx.decodeAudioData(bytes.slice(0));
  } catch (e) {
    throw new MediaError(`the file's sound could not be decoded (${e.message}): re-export it as MP4 (H.264 + AAC) or WAV`);
  }
  const out = new Float32Array(buf.length);
  for (let c = 0; c < buf.numberOfChannels; c++) {
    const x = buf.getChannelData(c);
    for (let i = 0; i < out.length; i++) out[i] += x[i] / buf.numberOfChannels;
  }
  return out;
}

const once = (el, event) => new Promise((resolve, reject) => {
  el.addEventListener(event, resolve, { once: true });
  el.addEventListener('error', () => reject(new MediaError(`the video could not be decoded (${el.error?.message || 'unsupported format'}): re-export it as MP4 (H.264 + AAC)`)), { once: true });
});

function element(url) {
  const v = document.createElement('video');
  Object.assign(v, { muted: true, preload: 'auto', playsInline: true, src: url });
  return v;
}

/** Seeks v to time t and resolves with the presented picture's own timestamp, or null if no picture came. */
function seek(v, t, waitMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(null), waitMs);
    v.requestVideoFrameCallback((_, meta) => { clearTimeout(timer); resolve(meta.mediaTime); });
    v.addEventListener('error', () => reject(new MediaError('the video could not be decoded part way: the file is damaged')), { once: true });
    v.currentTime = t;
  });
}

/** The video's frame period (s): the shortest step between pictures while it plays a moment; null if none came. */
async function framePeriod(v) {
  const times = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 3000);
    const next = (_, meta) => {
      times.push(meta.mediaTime);
      if (times.length >= 6) { clearTimeout(timer); resolve(); } else v.requestVideoFrameCallback(next);
    };
    v.requestVideoFrameCallback(next);
    v.play().catch(() => resolve());
  });
  v.pause();
  const steps = times.slice(1).map((t, i) => t - times[i]).filter((d) => d > 1e-4);
  return steps.length ? Math.min(...steps) : null;
}

/** {width, height, duration} and an async iterator of {t (s), img: {data RGBA, width, height}}: every picture of the
 *  file once, in order (seeking to the middle of each frame period), as a decoder hands them to avsep separate; the
 *  caller's lip_fps gate then takes the same ones. */
export async function openVideo(url, fps) {
  let v = null;
  // a <video> that never presents a sought picture (headless Chromium's first media element does so) is replaced
  for (let attempt = 0; attempt < 3 && !v; attempt++) {
    const candidate = element(url);
    await once(candidate, 'loadeddata');
    if (!candidate.videoWidth) throw new MediaError('the file has no video track: separate it as audio with a lips file');
    // two seeks that must each present a picture, neither in slot 0 (seeking to the picture shown presents none)
    const probe = async () => (await seek(candidate, 1.5 / fps, 2000)) !== null && (await seek(candidate, 2.5 / fps, 2000)) !== null;
    if (candidate.duration < 2.5 / fps || (await probe())) v = candidate;
    else candidate.removeAttribute('src');
  }
  if (!v) throw new MediaError('this browser does not present the pictures of a sought video: try another browser');
  const period = (await framePeriod(v)) ?? 1 / fps; // no picture while playing: fall back to the camera grid
  const width = v.videoWidth, height = v.videoHeight;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  async function* frames() {
    let shown = 0, slots = 0, last = -1;
    for (let k = 0; (k + 0.5) * period < v.duration; k++) {
      // the middle of frame period k; no picture comes (or the same one) where a variable-rate file has none there
      slots++;
      const stamp = await seek(v, (k + 0.5) * period, 1000);
      if (stamp === null || stamp <= last) continue;
      last = stamp;
      shown++;
      ctx.drawImage(v, 0, 0, width, height);
      yield { t: stamp, img: { data: ctx.getImageData(0, 0, width, height).data, width, height } };
    }
    if (shown < slots / 4) throw new MediaError(`the browser presented ${shown} pictures for ${slots} seeks: the video cannot be read here`);
  }
  return { width, height, duration: v.duration, frames, close: () => v.removeAttribute('src') };
}
