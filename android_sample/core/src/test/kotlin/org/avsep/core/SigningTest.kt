package org.avsep.core

import org.junit.Assert.assertThrows
import org.junit.Test
import java.io.File

/** A bundle signed by Python's `avsep export --sign` (the path and key come from parity_tests/test_app_cores.py). */
class SigningTest {
    private val dir = File(System.getProperty("avsep.signed_bundle"))
    private val key = ManifestSignature.publicKey(File(System.getProperty("avsep.public_key")).readText())

    @Test
    fun pythonSignedBundleLoads() {
        BundleManifest.load(dir, verify = true, publicKey = key)
    }

    @Test
    fun alteredManifestIsRefused() {
        val copy = copyOf(dir)
        val m = File(copy, "manifest.json")
        m.appendText(" ")  // still valid JSON, no longer the signed bytes
        assertThrows(BundleException::class.java) { BundleManifest.load(copy, verify = false, publicKey = key) }
    }

    @Test
    fun otherKeyIsRefused() {
        val other = java.security.KeyPairGenerator.getInstance("Ed25519").generateKeyPair().public
        val raw = other.encoded.takeLast(32).toByteArray()
        val otherKey = ManifestSignature.publicKey(java.util.Base64.getEncoder().encodeToString(raw))
        assertThrows(BundleException::class.java) { BundleManifest.load(dir, verify = false, publicKey = otherKey) }
    }

    @Test
    fun missingSignatureIsRefused() {
        val copy = copyOf(dir)
        File(copy, "manifest.sig").delete()
        assertThrows(BundleException::class.java) { BundleManifest.load(copy, verify = false, publicKey = key) }
    }

    private fun copyOf(src: File): File {
        val dst = kotlin.io.path.createTempDirectory("signed").toFile()
        src.copyRecursively(dst, overwrite = true)
        return dst
    }
}
