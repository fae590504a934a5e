// Glue: the arrays of a .npz (numpy's zip of .npy files, stored or deflated) read in the page: {name: {data, shape, dtype}}.
const DTYPES = { '|u1': Uint8Array, '<u1': Uint8Array, '|i1': Int8Array, '<i4': Int32Array, '<i8': BigInt64Array, '<f4': Float32Array, '<f8': Float64Array };

function npy(bytes, name) {
  const u8 = new Uint8Array(bytes);
  if (String.fromCharCode(...u8.subarray(1, 6)) !== 'NUMPY') throw new Error(`${name} is not a .npy array`);
  const major = u8[6], headerLen = major === 1 ? u8[8] | (u8[9] << 8) : new DataView(u8.buffer, u8.byteOffset).getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(u8.subarray(start, start + headerLen));
  const descr = header.match(/'descr':\s*'([^']+)'/)?.[1], order = /'fortran_order':\s*True/.test(header);
  const shape = (header.match(/'shape':\s*\(([^)]*)\)/)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const Type = DTYPES[descr];
  if (!Type || order) throw new Error(`${name}: dtype ${descr}${order ? ' (Fortran order)' : ''} is not read here`);
  const body = u8.slice(start + headerLen);
  return { data: new Type(body.buffer, 0, body.byteLength / Type.BYTES_PER_ELEMENT), shape, dtype: descr };
}

async function inflate(raw) {
  const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function readNpz(buffer) {
  const u8 = new Uint8Array(buffer), dv = new DataView(buffer);
  let eocd = u8.length - 22;
  while (eocd >= 0 && dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('not a .npz (zip) file');
  let p = dv.getUint32(eocd + 16, true);
  const out = {};
  for (let n = dv.getUint16(eocd + 10, true); n > 0; n--) {
    const method = dv.getUint16(p + 10, true), size = dv.getUint32(p + 20, true), nameLen = dv.getUint16(p + 28, true);
    const extra = dv.getUint16(p + 30, true), comment = dv.getUint16(p + 32, true), local = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(u8.subarray(p + 46, p + 46 + nameLen));
    const dataAt = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    const raw = u8.subarray(dataAt, dataAt + size);
    const body = method === 0 ? raw.slice() : method === 8 ? await inflate(raw) : null;
    if (!body) throw new Error(`${name}: zip method ${method} is not read here`);
    out[name.replace(/\.npy$/, '')] = npy(body.buffer, name);
    p += 46 + nameLen + extra + comment;
  }
  return out;
}
