// Glue: one step of the bundle on LiteRT.js, bound by name as the manifest lists it: data inputs in, data outputs out,
// each state X fed as input X and replaced by the output X_out the call returns (the tensor itself, never copied).
import { Tensor } from './runtime.js';
import { BundleError } from './bundle.js';

const size = (shape) => shape.reduce((a, b) => a * b, 1);
export const STATE_OUT = '_out';

export class StepBinding {
  constructor(model, step, sig) {
    this.runner = model.signatures[step];
    if (!this.runner) throw new BundleError(`the model has no '${step}' signature (it has ${Object.keys(model.signatures).join(', ')})`);
    this.step = step;
    this.sig = sig;
    this.state = {};
    this.ms = []; // wall time of every call
    this.reset();
  }

  /** Every state back to its init value. */
  reset() {
    for (const s of this.sig.states) {
      this.state[s.name]?.delete();
      this.state[s.name] = new Tensor(new Float32Array(size(s.shape)).fill(s.init ?? 0), s.shape);
    }
  }

  /** Per-slot states (leading axis = slot) back to init where mask[slot] != 0 (a new face in that slot). */
  resetSlots(mask) {
    if (!mask || !Array.from(mask).some((m) => m !== 0)) return;
    for (const s of this.sig.states.filter((t) => t.per_slot)) {
      const v = Float32Array.from(this.state[s.name].toTypedArray());
      const slice = v.length / s.shape[0];
      mask.forEach((m, slot) => { if (m !== 0) v.fill(s.init ?? 0, slot * slice, (slot + 1) * slice); });
      this.state[s.name].delete();
      this.state[s.name] = new Tensor(v, s.shape);
    }
  }

  /** One call: {name: Float32Array} for the data inputs -> {name: Float32Array} for the data outputs. */
  async run(data) {
    const feeds = {};
    for (const t of this.sig.inputs) {
      const x = data[t.name];
      if (!x) throw new Error(`${this.step} needs input '${t.name}'`);
      if (x.length !== size(t.shape)) throw new Error(`${this.step} '${t.name}' takes ${size(t.shape)} values, got ${x.length}`);
      feeds[t.name] = new Tensor(x, t.shape);
    }
    Object.assign(feeds, this.state);
    const t0 = performance.now();
    const out = await this.runner.run(feeds);
    const result = {};
    for (const t of this.sig.outputs) {
      if (!out[t.name]) throw new BundleError(`${this.step} returned no '${t.name}'`);
      result[t.name] = Float32Array.from(out[t.name].toTypedArray());
    }
    this.ms.push(performance.now() - t0);
    for (const t of this.sig.inputs) feeds[t.name].delete();
    for (const s of this.sig.states) {
      const next = out[s.name + STATE_OUT];
      if (!next) throw new BundleError(`${this.step} returned no '${s.name}${STATE_OUT}'`);
      this.state[s.name].delete();
      this.state[s.name] = next;
    }
    for (const t of this.sig.outputs) out[t.name].delete();
    return result;
  }

  close() {
    for (const s of Object.values(this.state)) s.delete();
    this.state = {};
  }
}
