// Glue: LiteRT.js loaded once (its WebAssembly runtime) and a bundle's .tflite compiled on its CPU (XNNPack) path.
import { loadAndCompile, loadLiteRt, Tensor } from '@litertjs/core';

export { Tensor };
export const WASM_URL = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;
// the plain build: the threaded one needs the page served with COOP/COEP headers, which a plain static server lacks
export const BACKEND = 'litertjs-wasm';
export const THREADS = 1;

let loading = null;
export const liteRt = () => (loading ??= loadLiteRt(WASM_URL));

export async function compile(bytes) {
  await liteRt();
  return loadAndCompile(new Uint8Array(bytes), { accelerator: 'wasm' });
}
