import SwiftUI
#if os(macOS)
import AppKit
#endif

@main
struct AVSepApp: App {
    @StateObject private var model = AppModel()

    init() {
        #if os(macOS)
        // started by `swift run`, the process would otherwise stay a background tool without a window in front
        NSApplication.shared.setActivationPolicy(.regular)
        #endif
    }

    var body: some Scene {
        WindowGroup {
            ContentView(model: model)
                .task { await model.load() }
        }
    }
}
