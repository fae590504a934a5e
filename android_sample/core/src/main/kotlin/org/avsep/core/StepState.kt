package org.avsep.core

/**
 * The state tensors of one step, created from the manifest and bound by name:
 * each state X starts at its init value, is fed as input X and replaced by output X_out after every call.
 */
class StepState(val step: String, val spec: StepSpec, held: Set<String> = emptySet()) {
    /** States the model keeps inside (CoreML MLState); the app never sees them. */
    private val explicit = spec.states.filter { it.name !in held }
    private val values = LinkedHashMap<String, FloatArray>()

    init {
        reset()
    }

    fun reset() {
        for (s in explicit) values.getOrPut(s.name) { FloatArray(s.size) }.fill(s.init)
    }

    operator fun get(name: String): FloatArray = values.getValue(name)

    val names: List<String> get() = explicit.map { it.name }

    /** The call's inputs: [data] plus every explicit state, by name. */
    fun feeds(data: Map<String, FloatArray>): Map<String, FloatArray> {
        for (t in spec.inputs) {
            val x = data[t.name] ?: throw IllegalArgumentException("$step needs input '${t.name}'")
            require(x.size == t.size) { "$step '${t.name}' takes ${t.size} values, got ${x.size}" }
        }
        return data + values
    }

    /**
     * Takes every X_out of [outputs] as the next X, copied into the state's own array: a runner may reuse
     * its output arrays, and an audio thread at 100 calls a second allocates nothing here.
     */
    fun update(outputs: Map<String, FloatArray>) {
        for (s in explicit) {
            val next = outputs[s.name + STATE_OUT] ?: throw BundleException("$step returned no '${s.name}$STATE_OUT'")
            if (next.size != s.size) throw BundleException("$step '${s.name}$STATE_OUT' has ${next.size} values, manifest says ${s.size}")
            next.copyInto(values.getValue(s.name))
        }
    }

    /** Back to the init value for every slot s with mask[s] != 0, in each per-slot state (leading axis = slot). */
    fun resetSlots(mask: FloatArray) {
        if (mask.none { it != 0f }) return
        for (s in explicit.filter { it.perSlot }) {
            val v = values.getValue(s.name)
            val slice = v.size / s.shape[0]
            for (slot in mask.indices) if (mask[slot] != 0f) v.fill(s.init, slot * slice, (slot + 1) * slice)
        }
    }
}

/** What runs the exported steps: LiteRT on Android, CoreML on Apple, recorded outputs in tests. Bound by name. */
interface StepRunner : AutoCloseable {
    /**
     * One call of [step]: named inputs (its data and explicit states) -> named outputs (data and X_out).
     * The output arrays may be the runner's own, overwritten by its next call of [step] (no garbage on the
     * audio thread): a caller copies what it keeps.
     */
    fun run(step: String, inputs: Map<String, FloatArray>): Map<String, FloatArray>

    override fun close() {}
}
