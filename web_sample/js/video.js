// Decodes a video file in the page: its sound at the model's rate (Web Audio), and its pictures on the camera grid
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

/** {width, height, duration} and an async iterator of {t (s), img: {data RGBA, width, height}} on the fps grid. */
export async function openVideo(url, fps) {
  const v = document.createElement('video');
  v.muted = true;
  v.preload = 'auto';
  v.playsInline = true;
  v.src = url;
  await once(v, 'loadeddata');
  const width = v.videoWidth, height = v.videoHeight;
  if (!width) throw new MediaError('the file has no video track: separate it as audio with a lips file');
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  async function* frames() {
    for (let k = 0; (k + 0.5) / fps < v.duration; k++) {
      let stamp = null;
      const presented = 'requestVideoFrameCallback' in v ? new Promise((r) => v.requestVideoFrameCallback((_, meta) => { stamp = meta.mediaTime; r(); })) : null;
      v.currentTime = (k + 0.5) / fps; // the middle of slot k: the picture shown there is the one the camera grid takes
      await once(v, 'seeked');
      if (presented) await Promise.race([presented, new Promise((r) => setTimeout(r, 250))]);
      ctx.drawImage(v, 0, 0, width, height);
      const img = ctx.getImageData(0, 0, width, height);
      yield { t: stamp ?? k / fps, img: { data: img.data, width, height } };
    }
  }
  return { width, height, duration: v.duration, frames, close: () => v.removeAttribute('src') };
}
