package org.avsep.sample

import org.junit.Assert.assertEquals
import org.junit.Test
import java.nio.file.Files

/** The .mlpackage hash rule, checked against a value computed in Python with the same rule. */
class DirectoryHashTest {
    @Test
    fun directory_hash_matches_the_exporter_rule() {
        val dir = Files.createTempDirectory("avsep-dirhash").toFile()
        try {
            mapOf(
                "Manifest.json" to "{}\n".toByteArray(),
                "Data/com.apple.CoreML/model.mlmodel" to "abc".toByteArray(),
                "Data/com.apple.CoreML/weights/weight.bin" to byteArrayOf(0, 1, 2),
            ).forEach { (rel, bytes) ->
                val f = dir.resolve(rel)
                f.parentFile.mkdirs()
                f.writeBytes(bytes)
            }
            assertEquals("d9155aeadf73245c4d8a26e3db0b7a2e0a742bf05dcf418130401c4b609a5398", BundleManifest.directorySha256(dir))
        } finally {
            dir.deleteRecursively()
        }
    }
}
