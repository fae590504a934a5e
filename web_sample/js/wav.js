// Glue: WAV files of the page's outputs: mono 16-bit PCM, samples rounded as avsep separate writes them (audio.WavWriter).
export function wav(samples, sampleRate) {
  const buf = new ArrayBuffer(44 + samples.length * 2), dv = new DataView(buf);
  const text = (at, s) => [...s].forEach((c, i) => dv.setUint8(at + i, c.charCodeAt(0)));
  text(0, 'RIFF'); dv.setUint32(4, 36 + samples.length * 2, true); text(8, 'WAVE');
  text(12, 'fmt '); dv.setUint32(16, 16, true); dv.setUint16(20, 1, true); dv.setUint16(22, 1, true);
  dv.setUint32(24, sampleRate, true); dv.setUint32(28, sampleRate * 2, true); dv.setUint16(32, 2, true); dv.setUint16(34, 16, true);
  text(36, 'data'); dv.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) dv.setInt16(44 + 2 * i, roundHalfEven(Math.min(1, Math.max(-1, samples[i])) * 32767), true);
  return new Blob([buf], { type: 'audio/wav' });
}

/** numpy's np.round: halves to the even neighbour. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
