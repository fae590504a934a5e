// avsep-bench BUNDLE [--runs N] [--units cpu|gpu|ane|all] [--out report.json]
// Streams the bundle's test_vectors through the core on CoreML (the same replay the repository's tests run
// on the JVM), prints parity and real-time factors, and writes the JSON device report. Run on an Apple M2
// Mac, that report is the M2 real-time factor: copy it into parity_tests/device_reports/.
import Foundation

#if canImport(CoreML)
import AVSepCore
import AVSepKit
import CoreML

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
var runs = 5, units = MLComputeUnits.all, unitsName = "all"
var bundlePath: String?, outPath = "device_report.json"
while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "--runs":
        guard let v = args.first.flatMap(Int.init), v >= 1 else { fail("--runs takes a whole number >= 1") }
        runs = v
        args.removeFirst()
    case "--units":
        let table: [String: MLComputeUnits] = ["cpu": .cpuOnly, "gpu": .cpuAndGPU, "ane": .cpuAndNeuralEngine, "all": .all]
        guard let v = args.first, let u = table[v] else { fail("--units takes cpu, gpu, ane or all") }
        units = u
        unitsName = v
        args.removeFirst()
    case "--out":
        guard let v = args.first else { fail("--out takes a path") }
        outPath = v
        args.removeFirst()
    case "-h", "--help":
        print("usage: avsep-bench BUNDLE [--runs N] [--units cpu|gpu|ane|all] [--out report.json]")
        exit(0)
    default:
        guard bundlePath == nil, !a.hasPrefix("-") else { fail("unknown argument \(a) (see --help)") }
        bundlePath = a
    }
}
guard let bundlePath else { fail("give the bundle directory, e.g. avsep-bench ../dist/ios") }
let bundleDir = URL(fileURLWithPath: bundlePath)

do {
    let manifest = try Manifest.load(from: bundleDir)
    let vectors = try TestVectors(bundleDir: bundleDir, manifest: manifest)
    let replay = try Replay(manifest: manifest, vectors: vectors)
    let runner = try await CoreMLRunner(manifest: manifest, bundleDir: bundleDir, computeUnits: units)
    _ = try replay.run(runner) // warm-up (first predictions specialise the model)
    var passes: [ReplayResult] = []
    for _ in 0..<runs { passes.append(try replay.run(runner)) }
    let report = try DeviceReport.build(manifest: manifest, bundleDir: bundleDir, vectors: vectors, lipCall: replay.lipCall,
                                        passes: passes, device: DeviceName.current(), threads: 1, runner: runner.name,
                                        stateful: !manifest.heldStates.values.allSatisfy(\.isEmpty))
    let url = try DeviceReport.write(report, to: URL(fileURLWithPath: outPath))
    print(DeviceName.summary(report))
    print("written to \(url.path)")
} catch {
    fail("\(error)")
}
#else
FileHandle.standardError.write(Data("error: avsep-bench runs CoreML models: build it on macOS\n".utf8))
exit(2)
#endif
