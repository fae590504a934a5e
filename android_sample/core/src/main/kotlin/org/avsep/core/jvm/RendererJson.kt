package org.avsep.core

import org.json.JSONObject

/** The renderer's params from bridge.json on the JVM (org.json); the web sample parses the same JSON in src/js. */
fun Drift.Companion.parse(o: JSONObject) = Drift(doubles(o, "freq"), doubles(o, "phase"), doubles(o, "weight"), o.getDouble("amp"))

private fun doubles(o: JSONObject, key: String) = o.getJSONArray(key).let { a -> DoubleArray(a.length()) { a.getDouble(it) } }

fun RendererParams.Companion.parse(o: JSONObject) = RendererParams(
    o.getDouble("upper_lip"), o.getDouble("lower_lip"), Drift.parse(o.getJSONObject("cx")), Drift.parse(o.getJSONObject("cy")),
    Drift.parse(o.getJSONObject("rot")), o.getDouble("scale0"), Drift.parse(o.getJSONObject("scale")), o.getDouble("skin"),
    o.getDouble("lip_tone"), o.getDouble("light_angle"), o.getDouble("light_gradient"),
)
