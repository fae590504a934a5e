// swift-tools-version:5.9
import PackageDescription

// AVSepKit is the library an app links; AVSepApp is the sample app (runs on macOS with
// `swift run AVSepApp`; for iOS generate the Xcode project from project.yml, see README).
let package = Package(
    name: "AVSep",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "AVSepKit", targets: ["AVSepKit"]),
        .executable(name: "AVSepApp", targets: ["AVSepApp"]),
    ],
    targets: [
        .target(name: "AVSepKit"),
        .executableTarget(
            name: "AVSepApp",
            dependencies: ["AVSepKit"],
            // copied verbatim: the .mlpackage must stay as exported so its sha256 can be checked
            resources: [.copy("Resources/avsep")]
        ),
        .testTarget(name: "AVSepKitTests", dependencies: ["AVSepKit"]),
    ]
)
