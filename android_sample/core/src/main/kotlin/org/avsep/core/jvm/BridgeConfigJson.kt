package org.avsep.core

import org.json.JSONObject
import java.io.File

/** bridge.json read on the JVM (org.json, java.io); the web sample parses the same JSON in src/js. */
fun BridgeConfig.Companion.parse(o: JSONObject): BridgeConfig {
    val format = o.getString("format")
    if (format != BridgeConfig.FORMAT) throw BundleException("bridge format is '$format', this app reads '${BridgeConfig.FORMAT}'")
    val slots = o.getJSONArray("slots")
    return BridgeConfig(
        o.getInt("crop_size"), o.getInt("history_frames"), o.getDouble("min_open_range"), o.getDouble("spread_gain"),
        o.getDouble("closed_opening"), (0 until slots.length()).map { RendererParams.parse(slots.getJSONObject(it).getJSONObject("renderer")) },
        o.getJSONObject("face_mesh").let { m ->
            fun pair(key: String) = m.getJSONArray(key).let { intArrayOf(it.getInt(0), it.getInt(1)) }
            FaceMeshPoints(m.getInt("upper_inner_lip"), m.getInt("lower_inner_lip"), pair("mouth_corners"), pair("outer_eye_corners"))
        },
    )
}

/** The bundle's bridge file (verified with the rest of the bundle by [BundleManifest.load]). */
fun BridgeConfig.Companion.load(m: BundleManifest): BridgeConfig {
    val rel = m.bridge ?: throw BundleException("the bundle has no bridge.json: re-export it with this version of avsep")
    return BridgeConfig.parse(JSONObject(File(m.dir, rel).readText())).also {
        if (it.slots.size < m.speakers) throw BundleException("bridge.json has ${it.slots.size} slots, the model ${m.speakers}")
    }
}
