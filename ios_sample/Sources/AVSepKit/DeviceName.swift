// Glue: the device line of a report (sysctl) and the report's summary for a screen.
import Foundation

/// The device line of a report, and its summary for a screen or a terminal.
public enum DeviceName {
    /// "iPhone16,1 / iOS 18.1" or "Apple M2 (Mac14,2) / macOS 15.1".
    public static func current() -> String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        let version = "\(v.majorVersion).\(v.minorVersion)" + (v.patchVersion > 0 ? ".\(v.patchVersion)" : "")
        #if os(iOS)
        return "\(sysctl("hw.machine")) / iOS \(version)"
        #elseif os(macOS)
        return "\(sysctl("machdep.cpu.brand_string")) (\(sysctl("hw.model"))) / macOS \(version)"
        #else
        return "\(ProcessInfo.processInfo.hostName) / \(ProcessInfo.processInfo.operatingSystemVersionString)"
        #endif
    }

    public static func summary(_ r: [String: Any]) -> String {
        let parity = r["parity"] as? [String: [String: Double]] ?? [:]
        let rtf = r["rtf"] as? [String: Double] ?? [:]
        let ms = r["step_ms"] as? [String: Double] ?? [:]
        let held = (r["schedule"] as? [String: Bool])?["held_frames_equal_lip_call"] ?? false
        let rows = ["speakers", "residual", "lip_emb"].map { name in
            name.padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(format: "SNR %7.1f dB   max err %.2e", parity[name]?["snr_db"] ?? .nan, parity[name]?["max_abs_err"] ?? .nan)
        }
        return ([
            "\(r["device"] ?? "")  \(r["precision"] ?? "")  \(r["runner"] ?? "")",
            "",
        ] + rows + [
            "held frames = reference schedule: \(held)",
            "",
            String(format: "av_step   %.3f ms median   RTF %.4f", ms["av_step"] ?? .nan, rtf["av_step"] ?? .nan),
            String(format: "lip_step  %.3f ms median   RTF %.4f", ms["lip_step"] ?? .nan, rtf["lip_step"] ?? .nan),
            String(format: "stream RTF %.4f", rtf["stream"] ?? .nan),
        ]).joined(separator: "\n")
    }

    #if os(iOS) || os(macOS)
    private static func sysctl(_ name: String) -> String {
        var size = 0
        guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return "unknown" }
        var buf = [CChar](repeating: 0, count: size)
        guard sysctlbyname(name, &buf, &size, nil, 0) == 0 else { return "unknown" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    #endif
}
