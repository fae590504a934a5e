// Screen: the live and benchmark screens (SwiftUI); shows what the model reports, decides nothing.
#if canImport(SwiftUI)
import SwiftUI

struct ContentView: View {
    @ObservedObject var model: AppModel
    @State private var screen = Screen.live

    enum Screen: String, CaseIterable, Identifiable {
        case live = "Live", benchmark = "Benchmark"
        var id: Self { self }
    }

    var body: some View {
        VStack(spacing: 12) {
            Picker("Screen", selection: $screen) {
                ForEach(Screen.allCases) { Text($0.rawValue).tag($0) }
            }
            .pickerStyle(.segmented)

            switch screen {
            case .live: live
            case .benchmark: benchmark
            }
        }
        .padding()
    }

    private var live: some View {
        VStack(spacing: 12) {
            CameraPreview(session: model.camera.session)
                .frame(maxWidth: .infinity, maxHeight: .infinity)
                .background(Color.black)
                .clipShape(RoundedRectangle(cornerRadius: 8))
            Text(model.running ? "faces \(model.faces)   \(model.dropped)" : model.status)
                .font(.footnote)
                .frame(maxWidth: .infinity, alignment: .leading)
            Picker("Listen to", selection: $model.slot) {
                Text("Mic").tag(-1)
                ForEach(0..<model.speakers, id: \.self) { Text("Speaker \($0 + 1)").tag($0) }
            }
            .pickerStyle(.segmented)
            Button(model.running ? "Stop" : "Start") {
                Task { await model.toggleLive() }
            }
            .buttonStyle(.borderedProminent)
            .disabled(model.speakers == 0 || model.benchmarking)  // the two never run at once
        }
    }

    private var benchmark: some View {
        VStack(alignment: .leading, spacing: 12) {
            Button(model.benchmarking ? "Running…" : "Run test vectors") {
                Task { await model.runBenchmark() }
            }
            .buttonStyle(.borderedProminent)
            .disabled(model.speakers == 0 || model.benchmarking || model.running)
            ScrollView {
                Text(model.benchmarkText)
                    .font(.system(.footnote, design: .monospaced))
                    .textSelection(.enabled)
                    .frame(maxWidth: .infinity, alignment: .leading)
            }
        }
    }
}
#endif
