// Glue: an exported Android bundle opened (a served URL or a picked folder) and checked before anything runs:
// every listed file's sha256 (Web Crypto) against manifest.json, and manifest.sig (Ed25519) where the browser has it.
export class BundleError extends Error {}

const FORMAT = 'avsep-manifest/1';
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
export const sha256 = async (bytes) => hex(await crypto.subtle.digest('SHA-256', bytes));

export class Bundle {
  /** read(rel) -> Promise<ArrayBuffer>; name: where it came from (shown in messages). */
  constructor(name, read) {
    this.name = name;
    this.readRaw = read;
    this.cache = new Map();
  }

  async read(rel) {
    if (!this.cache.has(rel)) this.cache.set(rel, this.readRaw(rel).catch((e) => {
      throw new BundleError(`bundle file missing: ${rel} (copy all of dist/android/): ${e.message}`);
    }));
    return this.cache.get(rel);
  }

  async json(rel) {
    try {
      return JSON.parse(new TextDecoder().decode(await this.read(rel)));
    } catch (e) {
      throw e instanceof BundleError ? e : new BundleError(`${rel} does not parse: ${e.message}`);
    }
  }

  /** Parses manifest.json and checks every file's sha256; with a public key (base64, 32 bytes) the signature first. */
  async open(publicKeyBase64 = '') {
    const signature = publicKeyBase64.trim() ? await this.checkSignature(publicKeyBase64) : 'not checked (no public key given)';
    const m = await this.json('manifest.json');
    if (m.format !== FORMAT) throw new BundleError(`manifest format is '${m.format}', this page reads '${FORMAT}'`);
    if (m.target !== 'android') throw new BundleError(`this is a ${m.target} bundle: the page runs Android bundles (dist/android/)`);
    for (const step of ['lip_step', 'av_step']) {
      if (!m.signatures?.[step] || !m.model_files?.[step]) throw new BundleError(`manifest has no '${step}' signature or model file`);
    }
    for (const rel of Object.keys(m.files).sort()) {
      const actual = await sha256(await this.read(rel));
      const expected = m.files[rel].sha256;
      if (actual !== expected.toLowerCase()) {
        throw new BundleError(`sha256 mismatch for ${rel}: manifest ${expected.slice(0, 12)}, file ${actual.slice(0, 12)} (re-copy dist/android/)`);
      }
    }
    this.manifest = m;
    this.manifestSha256 = await sha256(await this.read('manifest.json'));
    this.signature = signature;
    return m;
  }

  /** The rule of export/signing.py: Ed25519 over manifest.json's bytes, manifest.sig = base64 of the 64-byte signature. */
  async checkSignature(publicKeyBase64) {
    const raw = Uint8Array.from(atob(publicKeyBase64.trim()), (c) => c.charCodeAt(0));
    if (raw.length !== 32) throw new BundleError(`the public key must be 32 bytes of base64, got ${raw.length} (use signing.pub from \`avsep keygen\`)`);
    let key;
    try {
      key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      if (e.name === 'NotSupportedError') return 'not checked: this browser has no Ed25519 in Web Crypto';
      throw e;
    }
    let sigText;
    try {
      sigText = new TextDecoder().decode(await this.readRaw('manifest.sig'));
    } catch {
      throw new BundleError('manifest.sig missing: the bundle is not signed (export it with --sign KEY)');
    }
    const sig = Uint8Array.from(atob(sigText.trim()), (c) => c.charCodeAt(0));
    if (!(await crypto.subtle.verify({ name: 'Ed25519' }, key, sig, await this.read('manifest.json')))) {
      throw new BundleError('manifest.sig does not match manifest.json for this key: the bundle was altered or signed by another key');
    }
    return 'Ed25519 signature verified';
  }
}

/** A bundle served at a URL (a folder holding manifest.json). */
export function fromUrl(base) {
  const root = new URL(base.endsWith('/') ? base : base + '/', location.href);
  return new Bundle(root.href, async (rel) => {
    const r = await fetch(new URL(rel, root), { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return r.arrayBuffer();
  });
}

/** A folder picked with <input type=file webkitdirectory>: paths are relative to the folder that holds manifest.json. */
export function fromFiles(fileList) {
  const files = Array.from(fileList);
  const manifest = files.find((f) => f.webkitRelativePath.split('/').pop() === 'manifest.json' &&
    !files.some((g) => g.webkitRelativePath.endsWith('/manifest.json') && g.webkitRelativePath.length < f.webkitRelativePath.length));
  if (!manifest) throw new BundleError('no manifest.json in the chosen folder: choose dist/android/');
  const prefix = manifest.webkitRelativePath.slice(0, -'manifest.json'.length);
  const byRel = new Map(files.filter((f) => f.webkitRelativePath.startsWith(prefix)).map((f) => [f.webkitRelativePath.slice(prefix.length), f]));
  return new Bundle(prefix.replace(/\/$/, ''), async (rel) => {
    const f = byRel.get(rel);
    if (!f) throw new Error('not in the folder');
    return f.arrayBuffer();
  });
}
