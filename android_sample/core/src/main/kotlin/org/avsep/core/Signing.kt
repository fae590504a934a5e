package org.avsep.core

import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters
import org.bouncycastle.crypto.signers.Ed25519Signer
import java.io.File
import java.util.Base64

/**
 * Signed bundles, the rule of avsep_mobile/export/signing.py: Ed25519 (RFC 8032, pure) over
 * manifest.json's bytes exactly as stored; manifest.sig holds the 64-byte signature as one line of
 * padded base64; a public key file holds the raw 32-byte key as base64. The manifest lists every
 * file's sha256, so a valid signature followed by [BundleManifest.verify] covers the whole bundle.
 *
 * The Ed25519 maths is BouncyCastle's lightweight API, which the app ships: java.security's "Ed25519" comes
 * from the platform's provider (Conscrypt), which many Android versions the app supports do not have.
 */
object ManifestSignature {
    /** The raw 32-byte public key of `signing.pub` (base64). */
    fun publicKey(base64: String): SigningKey {
        val raw = decode(base64, "the public key")
        if (raw.size != SigningKey.BYTES) throw BundleException("the public key must be 32 bytes of base64, got ${raw.size} (use signing.pub from `avsep keygen`)")
        return SigningKey(raw)
    }

    /** Throws [BundleException] unless dir/manifest.sig is [key]'s signature of dir/manifest.json. */
    fun verify(dir: File, key: SigningKey) {
        val sigFile = File(dir, "manifest.sig")
        if (!sigFile.isFile) throw BundleException("manifest.sig missing: the bundle is not signed (export it with --sign KEY)")
        val sig = decode(sigFile.readText(), "manifest.sig")
        if (!key.verifies(File(dir, "manifest.json").readBytes(), sig)) {
            throw BundleException("manifest.sig does not match manifest.json for this key: the bundle was altered or signed by another key")
        }
    }

    private fun decode(text: String, what: String): ByteArray = try {
        Base64.getDecoder().decode(text.trim())
    } catch (e: IllegalArgumentException) {
        throw BundleException("$what is not base64")
    }
}

/** An Ed25519 public key (RFC 8032, pure: no prehash, no context), raw 32 bytes. */
class SigningKey(raw: ByteArray) {
    private val raw = raw.copyOf()

    init {
        require(raw.size == BYTES) { "an Ed25519 public key is $BYTES bytes, got ${raw.size}" }
    }

    /** True when [signature] is this key's signature of [message]; a malformed signature or key is false. */
    fun verifies(message: ByteArray, signature: ByteArray): Boolean {
        if (signature.size != SIGNATURE_BYTES) return false
        return try {
            Ed25519Signer().run {
                init(false, Ed25519PublicKeyParameters(raw, 0))
                update(message, 0, message.size)
                verifySignature(signature)
            }
        } catch (e: IllegalArgumentException) {
            false  // newer BouncyCastle refuses a key that is not a curve point when it is decoded
        }
    }

    companion object {
        const val BYTES = 32
        const val SIGNATURE_BYTES = 64
    }
}
