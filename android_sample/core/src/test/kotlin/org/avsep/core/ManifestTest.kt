package org.avsep.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import java.nio.file.Files

class ManifestTest {
    /** The .mlpackage hash rule, checked against a value computed with export/manifest.py's sha256_dir. */
    @Test
    fun directory_hash_matches_the_exporter_rule() {
        val dir = Files.createTempDirectory("avsep-dirhash").toFile()
        try {
            mapOf(
                "Manifest.json" to "{}\n".toByteArray(),
                "Data/com.apple.CoreML/model.mlmodel" to "abc".toByteArray(),
                "Data/com.apple.CoreML/weights/weight.bin" to byteArrayOf(0, 1, 2),
            ).forEach { (rel, bytes) -> File(dir, rel).apply { parentFile.mkdirs() }.writeBytes(bytes) }
            assertEquals("d9155aeadf73245c4d8a26e3db0b7a2e0a742bf05dcf418130401c4b609a5398", Sha256.directory(dir))
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test
    fun toy_bundle_loads_and_reads_per_slot_states() {
        val dir = ToyBundle.write()
        try {
            val m = BundleManifest.load(dir)
            assertEquals(2, m.speakers)
            assertTrue(m.signature("av_step").states.single { it.name == "dec" }.perSlot)
            assertTrue(!m.signature("av_step").states.single { it.name == "ola" }.perSlot)
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test
    fun tampered_or_missing_files_are_refused_with_one_line() {
        val dir = ToyBundle.write()
        try {
            File(dir, "model.bin").appendBytes(byteArrayOf(0x5a))
            expectBundleError(dir, "sha256 mismatch for model.bin")
            File(dir, "model.bin").delete()
            expectBundleError(dir, "bundle file missing: model.bin")
            File(dir, "manifest.json").writeText("{not json")
            expectBundleError(dir, "manifest.json does not parse")
        } finally {
            dir.deleteRecursively()
        }
    }

    private fun expectBundleError(dir: File, start: String) {
        try {
            BundleManifest.load(dir)
            fail("expected: $start")
        } catch (e: BundleException) {
            assertTrue("${e.message}", e.message!!.startsWith(start))
            assertTrue("one line", !e.message!!.contains('\n'))
        }
    }
}
