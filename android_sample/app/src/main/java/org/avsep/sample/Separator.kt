// Glue: the bundle's LiteRT runner under the core's StreamCore, as the app's one Separator.
package org.avsep.sample

import org.avsep.core.BundleManifest
import org.avsep.core.ManifestSignature
import org.avsep.core.ScheduleConfig
import org.avsep.core.Separated
import org.avsep.core.StreamCore
import java.io.File

/**
 * Streaming audio-visual separation with an exported bundle (`dist/android/`): the core's [StreamCore]
 * (state by name, the A/V schedule, chunking, flush) on the LiteRT runner.
 *
 * Camera thread: [frame] per camera frame (lip_step runs there). Audio thread: [process] with any number of
 * samples; it never waits for video work. Timestamps are ns on the audio clock: 0 = the first sample given
 * to [process] (AudioCapture maps camera time onto it). Output PCM lags the input by output_delay_samples;
 * [flush] drains the tail.
 */
class Separator(
    bundleDir: File, threads: Int = 1, gpu: Boolean = false, schedule: ScheduleConfig = ScheduleConfig(),
    /** base64 of the raw Ed25519 public key (`signing.pub` of `avsep keygen`); set it to accept signed bundles only */
    signingKey: String? = BuildConfig.AVSEP_SIGNING_KEY.ifEmpty { null },
) : AutoCloseable {
    // the signature (when a key is configured), then every sha256, before anything loads
    val manifest = BundleManifest.load(bundleDir, publicKey = signingKey?.let(ManifestSignature::publicKey))
    private val runner = LiteRtRunner(manifest, threads, gpu)
    private val core = StreamCore(manifest, runner, schedule)
    val sampleRate: Int = manifest.sampleRate
    val hopSamples: Int = manifest.hopSamples
    val chunkSamples: Int = manifest.chunkSamples
    val speakers: Int = manifest.speakers

    /** Settable A/V offset (ns), added to every camera timestamp. */
    var offsetNs: Long by core::offsetNs

    /** crops: [S, 1, c, c] in [0, 1] row-major; faces[s]: the id of the face tracked in slot s, -1 for none. */
    fun frame(tNs: Long, crops: FloatArray, faces: IntArray): Boolean = core.frame(tNs, crops, faces) != null

    fun process(samples: FloatArray): Separated = core.process(samples)

    fun flush(): Separated = core.flush()

    fun reset() = core.reset()

    override fun close() = runner.close()
}
