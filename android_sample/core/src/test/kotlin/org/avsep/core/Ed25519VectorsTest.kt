package org.avsep.core

import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.security.MessageDigest

/** [SigningKey] (BouncyCastle's Ed25519) against RFC 8032 section 7.1's test vectors, and what it must refuse. */
class Ed25519VectorsTest {
    private class Vector(val name: String, val publicKey: String, val message: String, val signature: String)

    private fun hex(s: String) = ByteArray(s.length / 2) { s.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

    private val vectors = listOf(
        Vector("TEST 1", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        Vector("TEST 2", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        Vector("TEST 3", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
        Vector("TEST SHA(abc)", "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            MessageDigest.getInstance("SHA-512").digest("abc".toByteArray()).joinToString("") { "%02x".format(it) },
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
    )

    @Test
    fun rfc8032_signatures_verify() {
        for (v in vectors) assertTrue(v.name, SigningKey(hex(v.publicKey)).verifies(hex(v.message), hex(v.signature)))
    }

    @Test
    fun a_changed_message_signature_or_key_is_refused() {
        for (v in vectors) {
            val key = hex(v.publicKey)
            val msg = hex(v.message)
            val sig = hex(v.signature)
            assertFalse("${v.name}: message with a byte appended", SigningKey(key).verifies(msg + 0, sig))
            for (bit in listOf(0, 255, 256, 511)) {
                val bad = sig.copyOf().also { it[bit / 8] = (it[bit / 8].toInt() xor (1 shl (bit % 8))).toByte() }
                assertFalse("${v.name}: signature bit $bit flipped", SigningKey(key).verifies(msg, bad))
            }
            assertFalse("${v.name}: truncated signature", SigningKey(key).verifies(msg, sig.copyOf(63)))
            val other = hex(vectors.first { it !== v }.publicKey)
            assertFalse("${v.name}: another vector's key", SigningKey(other).verifies(msg, sig))
        }
    }

    @Test
    fun a_key_of_the_wrong_size_is_refused_with_a_message() {
        val e = assertThrows(BundleException::class.java) { ManifestSignature.publicKey(java.util.Base64.getEncoder().encodeToString(ByteArray(31))) }
        assertTrue(e.message!!, e.message!!.contains("32 bytes"))
        assertThrows(BundleException::class.java) { ManifestSignature.publicKey("not base64 !") }
    }
}
