// Glue: signed bundles checked with CryptoKit's Ed25519 (the rule of export/signing.py).
#if canImport(CryptoKit)
import AVSepCore
import CryptoKit
import Foundation

/// Signed bundles, the rule of avsep_mobile/export/signing.py: Ed25519 (RFC 8032, pure) over manifest.json's
/// bytes exactly as stored; manifest.sig holds the 64-byte signature as one line of padded base64; the public
/// key is the raw 32-byte key as base64 (`signing.pub` of `avsep keygen`). The manifest lists every file's
/// sha256, so a valid signature followed by `Manifest.load` (which checks them) covers the whole bundle.
public enum ManifestSignature {
    public static func publicKey(base64: String) throws -> Curve25519.Signing.PublicKey {
        guard let raw = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw BundleError("the public key must be 32 bytes of base64 (use signing.pub from `avsep keygen`)")
        }
        return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }

    /// Throws unless bundleDir/manifest.sig is `key`'s signature of bundleDir/manifest.json.
    public static func verify(bundleDir: URL, key: Curve25519.Signing.PublicKey) throws {
        guard let text = try? String(contentsOf: bundleDir.appendingPathComponent("manifest.sig"), encoding: .utf8) else {
            throw BundleError("manifest.sig missing: the bundle is not signed (export it with --sign KEY)")
        }
        guard let sig = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BundleError("manifest.sig is not base64")
        }
        let manifest = try Data(contentsOf: bundleDir.appendingPathComponent("manifest.json"))
        guard key.isValidSignature(sig, for: manifest) else {
            throw BundleError("manifest.sig does not match manifest.json for this key: the bundle was altered or signed by another key")
        }
    }
}
#endif
