@file:OptIn(ExperimentalJsExport::class)

package org.avsep.core

/*
 * The seams of the Android core for the web sample (compiled by kotlinc-js only: parity_tests/web_core.py).
 * The rules stay in src/main; these wrappers only change types JavaScript cannot hold: Long ns become Double
 * (exact below 2^53 ns, 104 days), Lists become arrays, bridge.json is parsed with the browser's JSON.
 * FloatArray/IntArray/DoubleArray are Float32Array/Int32Array/Float64Array on both sides (no copies).
 */

/** A released chunk (ChunkPlan): the held lip_step call (-1: none) and per slot active/reset. */
@JsExport
class WebPlan(val index: Double, val lip: Int, val active: FloatArray, val reset: FloatArray)

/** Scheduler (Scheduler.kt): frames and audio in any interleaving -> chunks in order. */
@JsExport
class WebScheduler(sampleRate: Int, chunkSamples: Int, speakers: Int, offsetNs: Double, maxVideoWaitNs: Double, startupWaitNs: Double) {
    private val s = Scheduler(sampleRate, chunkSamples, speakers, ScheduleConfig(offsetNs.toLong(), maxVideoWaitNs.toLong(), startupWaitNs.toLong()))

    fun frame(tNs: Double, faces: IntArray): Int = s.frame(tNs.toLong(), faces)

    fun audio(n: Int) = s.audio(n)

    fun endOfVideo() = s.endOfVideo()

    fun setOffsetNs(ns: Double) {
        s.offsetNs = ns.toLong()
    }

    fun next(): WebPlan? = s.next()?.let { WebPlan(it.index.toDouble(), it.lip, it.active, it.reset) }
}

/** The apps' live defaults (ScheduleConfig()): offset, video wait, start-up wait, in ns. */
@JsExport
fun liveScheduleDefaults(): DoubleArray = ScheduleConfig().let { doubleArrayOf(it.offsetNs.toDouble(), it.maxVideoWaitNs.toDouble(), it.startupWaitNs.toDouble()) }

/** [NEVER]: a chunk waits for a later frame however long (recordings). */
@JsExport
fun neverNs(): Double = NEVER.toDouble()

@JsExport
fun flushSamples(received: Double, chunkSamples: Int, outputDelaySamples: Int): Int =
    Scheduler.flushSamples(received.toLong(), chunkSamples, outputDelaySamples)

@JsExport
class WebFrameGate(lipFps: Double) {
    private val g = FrameGate(lipFps)

    fun accept(tNs: Double): Boolean = g.accept(tNs.toLong())

    fun reset() = g.reset()
}

@JsExport
class WebSlotFaces(speakers: Int) {
    private val f = SlotFaces(speakers)

    fun update(faces: IntArray): FloatArray = f.update(faces)
}

@JsExport
class WebChunker(chunkSamples: Int) {
    private val c = Chunker(chunkSamples)

    /** Every whole chunk this push completes, in order. */
    fun push(samples: FloatArray): Array<FloatArray> = ArrayList<FloatArray>().also { out -> c.push(samples) { out.add(it) } }.toTypedArray()

    fun received(): Double = c.received.toDouble()

    fun reset() = c.reset()
}

/** One slot's mouth bridge (MouthBridge.kt) with its renderer. */
@JsExport
class WebMouthBridge internal constructor(private val b: MouthBridge) {
    fun reset() = b.reset()

    fun features(gap: Double, width: Double, eyeSpan: Double): DoubleArray = b.features(gap, width, eyeSpan)

    /** features() then the rendered crop (grey / 255) into out[offset until offset + size^2]. */
    fun crop(gap: Double, width: Double, eyeSpan: Double, t: Double, out: FloatArray, offset: Int) = b.crop(gap, width, eyeSpan, t, out, offset)
}

/** A bare bridge (no renderer): the features rule alone, for the case table. */
@JsExport
fun newFeatureBridge(history: Int, minOpenRange: Double, spreadGain: Double, closedOpening: Double) =
    WebMouthBridge(MouthBridge(history, minOpenRange, spreadGain, closedOpening))

/** bridge.json (BridgeConfig): the constants, the face-mesh indices and a bridge per slot. */
@JsExport
class WebBridgeConfig(json: String) {
    private val c: BridgeConfig = parseBridge(JSON.parse(json))
    val slots: Int = c.slots.size
    val cropSize: Int = c.cropSize
    val upperInnerLip: Int = c.faceMesh.upperInnerLip
    val lowerInnerLip: Int = c.faceMesh.lowerInnerLip
    val mouthCorners: IntArray = c.faceMesh.mouthCorners
    val outerEyeCorners: IntArray = c.faceMesh.outerEyeCorners

    fun bridge(slot: Int) = WebMouthBridge(c.bridge(slot))
}

/** The renderer alone (MouthRenderer.render): grey levels 0..255 for one (opening, spread, t), params as in bridge.json. */
@JsExport
fun renderMouth(paramsJson: String, size: Int, opening: Double, spread: Double, t: Double): IntArray =
    IntArray(size * size).also { MouthRenderer(parseRenderer(JSON.parse(paramsJson)), size).render(opening, spread, t, it) }

private fun doubles(a: dynamic): DoubleArray = DoubleArray((a.length as Int)) { (a[it] as Number).toDouble() }

private fun num(o: dynamic, key: String): Double = (o[key] as? Number)?.toDouble() ?: throw IllegalArgumentException("bridge.json: '$key' is missing")

private fun parseDrift(o: dynamic) = Drift(doubles(o.freq), doubles(o.phase), doubles(o.weight), num(o, "amp"))

private fun parseRenderer(o: dynamic) = RendererParams(
    num(o, "upper_lip"), num(o, "lower_lip"), parseDrift(o.cx), parseDrift(o.cy), parseDrift(o.rot), num(o, "scale0"), parseDrift(o.scale),
    num(o, "skin"), num(o, "lip_tone"), num(o, "light_angle"), num(o, "light_gradient"),
)

private fun parseBridge(o: dynamic): BridgeConfig {
    val format = o.format as? String
    require(format == BridgeConfig.FORMAT) { "bridge format is '$format', this page reads '${BridgeConfig.FORMAT}'" }
    val slots = o.slots
    val m = o.face_mesh
    fun pair(a: dynamic) = intArrayOf((a[0] as Number).toInt(), (a[1] as Number).toInt())
    return BridgeConfig(
        num(o, "crop_size").toInt(), num(o, "history_frames").toInt(), num(o, "min_open_range"), num(o, "spread_gain"), num(o, "closed_opening"),
        List(slots.length as Int) { parseRenderer(slots[it].renderer) },
        FaceMeshPoints(num(m, "upper_inner_lip").toInt(), num(m, "lower_inner_lip").toInt(), pair(m.mouth_corners), pair(m.outer_eye_corners)),
    )
}
