// swift-tools-version:6.0
import PackageDescription

// AVSepCore: Foundation only (manifest + sha256, state by name, the A/V schedule, chunking, replay,
//            report, face slots, mouth geometry, the camera-to-audio clock), so it builds and tests with
//            Swift on Linux too; AVSepRing: the C11 lock-free ring under its SampleRing.
// AVSepKit:  the CoreML runner (explicit state on iOS 17, MLState for the iOS 18 stateful package),
//            Separator, Vision mouth crops. Apple platforms only (empty elsewhere).
// AVSepApp:  the SwiftUI sample app. avsep-bench: the macOS command-line benchmark (the M2 report).
let package = Package(
    name: "AVSep",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "AVSepCore", targets: ["AVSepCore"]),
        .library(name: "AVSepKit", targets: ["AVSepKit"]),
        .executable(name: "AVSepApp", targets: ["AVSepApp"]),
        .executable(name: "avsep-bench", targets: ["avsep-bench"]),
    ],
    targets: [
        // the lock-free sample ring the real-time audio thread writes (C11 atomics: Swift has no atomics before iOS 18)
        .target(name: "AVSepRing"),
        .target(name: "AVSepCore", dependencies: ["AVSepRing"]),
        .target(name: "AVSepKit", dependencies: ["AVSepCore"]),
        .executableTarget(
            name: "AVSepApp",
            dependencies: ["AVSepKit"],
            // copied verbatim: the .mlpackage must stay as exported so its sha256 can be checked
            resources: [.copy("Resources/avsep")]
        ),
        .executableTarget(name: "avsep-bench", dependencies: ["AVSepKit"]),
        .testTarget(name: "AVSepCoreTests", dependencies: ["AVSepCore"]),
        .testTarget(name: "AVSepKitTests", dependencies: ["AVSepKit"]),
    ],
    // Swift 6: data races are compile errors (Xcode 16+; project.yml sets the same for the iPhone app)
    swiftLanguageModes: [.v6]
)
