package org.avsep.core

import java.io.File
import java.security.KeyFactory
import java.security.PublicKey
import java.security.Signature
import java.security.SignatureException
import java.security.spec.X509EncodedKeySpec
import java.util.Base64

/**
 * Signed bundles, the rule of avsep_mobile/export/signing.py: Ed25519 (RFC 8032, pure) over
 * manifest.json's bytes exactly as stored; manifest.sig holds the 64-byte signature as one line of
 * padded base64; a public key file holds the raw 32-byte key as base64. The manifest lists every
 * file's sha256, so a valid signature followed by [BundleManifest.verify] covers the whole bundle.
 */
object ManifestSignature {
    // DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410): what java.security wants before the raw 32 bytes
    private val ED25519_SPKI = byteArrayOf(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00)

    fun publicKey(base64: String): PublicKey {
        val raw = decode(base64, "the public key")
        if (raw.size != 32) throw BundleException("the public key must be 32 bytes of base64, got ${raw.size} (use signing.pub from `avsep keygen`)")
        return KeyFactory.getInstance("Ed25519").generatePublic(X509EncodedKeySpec(ED25519_SPKI + raw))
    }

    /** Throws [BundleException] unless dir/manifest.sig is [key]'s signature of dir/manifest.json. */
    fun verify(dir: File, key: PublicKey) {
        val sigFile = File(dir, "manifest.sig")
        if (!sigFile.isFile) throw BundleException("manifest.sig missing: the bundle is not signed (export it with --sign KEY)")
        val sig = decode(sigFile.readText(), "manifest.sig")
        val ok = try {
            Signature.getInstance("Ed25519").run {
                initVerify(key)
                update(File(dir, "manifest.json").readBytes())
                verify(sig)
            }
        } catch (e: SignatureException) {
            false
        }
        if (!ok) throw BundleException("manifest.sig does not match manifest.json for this key: the bundle was altered or signed by another key")
    }

    private fun decode(text: String, what: String): ByteArray = try {
        Base64.getDecoder().decode(text.trim())
    } catch (e: IllegalArgumentException) {
        throw BundleException("$what is not base64")
    }
}
