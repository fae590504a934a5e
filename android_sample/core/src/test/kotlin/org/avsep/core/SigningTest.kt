package org.avsep.core

import org.bouncycastle.crypto.generators.Ed25519KeyPairGenerator
import org.bouncycastle.crypto.params.Ed25519KeyGenerationParameters
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters
import org.junit.Assert.assertThrows
import org.junit.Assume.assumeTrue
import org.junit.Before
import org.junit.Test
import java.io.File
import java.security.SecureRandom

/**
 * A bundle signed by Python's `avsep export --sign` (export/signing.py): avsep.signed_bundle and avsep.public_key,
 * which parity_tests/test_app_cores.py sets to a bundle it exports and signs, and Gradle to the committed
 * parity_tests/data/signed_bundle (written by avsep_mobile/app_cases.py with export/signing.py).
 */
class SigningTest {
    private lateinit var dir: File
    private lateinit var key: SigningKey

    @Before
    fun signedBundle() {
        val bundle = System.getProperty("avsep.signed_bundle")
        val pub = System.getProperty("avsep.public_key")
        assumeTrue("skipped: set -Davsep.signed_bundle=DIR and -Davsep.public_key=signing.pub (a bundle signed by `avsep export --sign`)",
            bundle != null && pub != null)
        dir = File(bundle!!)
        key = ManifestSignature.publicKey(File(pub!!).readText())
    }

    @Test
    fun pythonSignedBundleLoads() {
        BundleManifest.load(dir, verify = true, publicKey = key)
        println("signature verified: $dir")  // the Python test looks for this line: a skipped test prints nothing
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
        val pair = Ed25519KeyPairGenerator().apply { init(Ed25519KeyGenerationParameters(SecureRandom())) }.generateKeyPair()
        val raw = (pair.public as Ed25519PublicKeyParameters).encoded
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
