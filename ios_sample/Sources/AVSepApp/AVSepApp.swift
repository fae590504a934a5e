// App: the entry point; one window holding the content view and its model.
#if canImport(SwiftUI)
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
#else
import Foundation

/// Elsewhere (Swift on Linux) the package still builds: the app itself needs SwiftUI.
@main
enum AVSepApp {
    static func main() {
        FileHandle.standardError.write(Data("error: the AVSep app needs SwiftUI (iOS or macOS)\n".utf8))
        exit(2)
    }
}
#endif
