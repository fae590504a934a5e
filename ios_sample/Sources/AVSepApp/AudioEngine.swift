// Glue: AVAudioEngine microphone -> the core's process() -> speaker, the audio clock's anchor, restarts on route and configuration changes and interruptions.
#if canImport(SwiftUI)
import AVFoundation
import AVSepCore
import os

/// Microphone -> 16 kHz mono -> `process` -> speaker, with the latency of the I/O buffer rather than of a tap.
///
/// - Real-time threads: the AVAudioSinkNode receives the input node's own format (a sink does no conversion, so it
///   is connected with exactly that format) and copies channel 0 into a lock-free ring; the AVAudioSourceNode plays
///   from another. Neither block takes a lock, allocates, or touches `self`.
/// - The worker (every 5 ms): anchors the audio clock on the first buffer's host time less the input latency
///   (AvClock), stands zeros in for samples the ring dropped (so the sample count stays on host time), converts
///   to the model's rate with AVAudioConverter, calls `process`, queues what it returns for playback.
/// - A configuration change (new input format, headphones), a route change or the end of an interruption (a call)
///   rebuilds the graph with the new format on the worker and starts a new stream: `onRestart` runs first, there.
/// Dropped samples (either ring) are counted and shown, not hidden.
final class AudioEngine: @unchecked Sendable { // mutable state is touched on `worker` only; the rings are SPSC
    /// Seconds of audio dropped since start: microphone samples the worker had no room for (zeros stood in for them),
    /// separated samples the speaker had no room for.
    struct Drops: Sendable {
        var inputSeconds = 0.0
        var outputSeconds = 0.0
    }

    private let engine = AVAudioEngine()
    private let format: AVAudioFormat
    private let worker = DispatchQueue(label: "org.avsep.audio-worker", qos: .userInteractive)
    private let input = SampleRing(capacity: 192_000)  // 2 s at 96 kHz
    private let output: SampleRing
    private let clock = OSAllocatedUnfairLock(initialState: AvClock(sampleRate: 48_000))
    private let drops = OSAllocatedUnfairLock(initialState: Drops())
    private var observers: [NSObjectProtocol] = []

    // worker-only
    private var process: (@Sendable ([Float]) -> [Float])?
    private var onRestart: (@Sendable () -> Void)?
    private var timer: DispatchSourceTimer?
    private var sink: AVAudioSinkNode?
    private var source: AVAudioSourceNode?
    private var converter: AVAudioConverter?
    private var hardware: AVAudioFormat?
    private var inBuffer: AVAudioPCMBuffer?
    private var outBuffer: AVAudioPCMBuffer?
    private var inputDropsSeen = 0
    private var outputDropsSeen = 0

    init(sampleRate: Int) {
        format = AVAudioFormat(commonFormat: .pcmFormatFloat32, sampleRate: Double(sampleRate), channels: 1, interleaved: false)!
        output = SampleRing(capacity: sampleRate)  // 1 s; beyond that playback drops rather than lags
    }

    /// A host-clock instant (a camera frame's) on the audio clock, nil until the first microphone buffer.
    func audioNs(hostSeconds: Double) -> Int64? {
        clock.withLock { $0.audioNs(cameraNs: Int64((hostSeconds * 1e9).rounded()), timebase: .HOST) }
    }

    var dropped: Drops { drops.withLock { $0 } }

    /// `process` runs on the worker with each converted block and returns the PCM to play; `onRestart` runs there
    /// before the first block of each new stream after a rebuild.
    func start(process: @escaping @Sendable ([Float]) -> [Float], onRestart: @escaping @Sendable () -> Void) throws {
        #if os(iOS)
        let session = AVAudioSession.sharedInstance()
        // measurement mode: no AGC or noise suppression in front of the model; 10 ms I/O buffers
        try session.setCategory(.playAndRecord, mode: .measurement, options: [.defaultToSpeaker, .allowBluetoothA2DP])
        try session.setPreferredIOBufferDuration(0.01)
        try session.setActive(true)
        #endif
        drops.withLock { $0 = Drops() }
        try worker.sync {
            self.process = process
            self.onRestart = onRestart
            try self.build()
        }
        observe()
    }

    func stop() {
        for o in observers { NotificationCenter.default.removeObserver(o) }
        observers = []
        worker.sync {
            self.teardown()
            self.process = nil
            self.onRestart = nil
        }
        #if os(iOS)
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
        #endif
    }

    // MARK: worker

    private func build() throws {
        let hw = engine.inputNode.outputFormat(forBus: 0)
        guard hw.sampleRate > 0, hw.channelCount > 0, hw.commonFormat == .pcmFormatFloat32,
              let mono = AVAudioFormat(commonFormat: .pcmFormatFloat32, sampleRate: hw.sampleRate, channels: 1, interleaved: false),
              let converter = AVAudioConverter(from: mono, to: format),
              let inBuffer = AVAudioPCMBuffer(pcmFormat: mono, frameCapacity: AVAudioFrameCount(hw.sampleRate / 10)),
              let outBuffer = AVAudioPCMBuffer(pcmFormat: format, frameCapacity: AVAudioFrameCount(format.sampleRate / 10) + 64) else {
            throw AppError("the microphone gives no usable format (\(hw))")
        }
        let ring = input
        // interleaved: channel 0 of N in one buffer, N floats apart; deinterleaved: buffer 0 is channel 0
        let stride = hw.isInterleaved ? Int(hw.channelCount) : 1
        let sink = AVAudioSinkNode { timestamp, frames, buffers -> OSStatus in
            let list = UnsafeMutableAudioBufferListPointer(UnsafeMutablePointer(mutating: buffers))
            guard let data = list[0].mData else { return noErr }
            let stamp = timestamp.pointee.mFlags.contains(.hostTimeValid) ? timestamp.pointee.mHostTime : 0
            ring.write(data.assumingMemoryBound(to: Float.self), frames: Int(frames), stride: stride, hostTime: stamp)
            return noErr
        }
        let played = output
        let source = AVAudioSourceNode(format: format) { _, _, frames, buffers -> OSStatus in
            let list = UnsafeMutableAudioBufferListPointer(buffers)
            guard let data = list[0].mData else { return noErr }
            let out = UnsafeMutableBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: Int(frames))
            let n = played.read(into: out)
            for i in n..<out.count { out[i] = 0 }
            return noErr
        }
        input.clear()
        output.clear()
        let rate = Int(hw.sampleRate)  // only Sendable values cross into the lock
        clock.withLock { $0 = AvClock(sampleRate: rate) }
        engine.attach(sink)
        engine.attach(source)
        engine.connect(engine.inputNode, to: sink, format: hw)  // the input's own format: a sink converts nothing
        engine.connect(source, to: engine.mainMixerNode, format: format)
        engine.prepare()
        try engine.start()
        self.sink = sink
        self.source = source
        self.converter = converter
        self.hardware = hw
        self.inBuffer = inBuffer
        self.outBuffer = outBuffer
        inputDropsSeen = 0
        outputDropsSeen = 0
        let t = DispatchSource.makeTimerSource(queue: worker)
        t.schedule(deadline: .now(), repeating: .milliseconds(5))
        t.setEventHandler { [weak self] in self?.tick() }
        t.resume()
        timer = t
    }

    private func teardown() {
        timer?.cancel()
        timer = nil
        engine.stop()
        if let sink { engine.detach(sink) }
        if let source { engine.detach(source) }
        sink = nil
        source = nil
        converter = nil
        hardware = nil
    }

    /// A new stream on the new route or format: the graph rebuilt, the app told first (it resets the separator).
    private func restart() {
        guard process != nil else { return }  // stopped meanwhile
        teardown()
        onRestart?()
        do { try build() } catch { print("AVSep: audio restart failed: \(error)") }
    }

    private func tick() {
        guard let hardware, let inBuffer, let process, let channel = inBuffer.floatChannelData?[0] else { return }
        if let first = input.firstHostTime, clock.withLock({ $0.sample0Ns == nil }) {
            let latencyNs = Int64((engine.inputNode.presentationLatency * 1e9).rounded())
            let stampNs = Int64((AVAudioTime.seconds(forHostTime: first) * 1e9).rounded())
            clock.withLock { _ = $0.captured(position: 0, stampNs: stampNs, inputLatencyNs: latencyNs) }
        }
        // samples the sink could not queue: zeros in their place keep the sample count on host time
        var silence = input.dropped - inputDropsSeen
        inputDropsSeen += silence
        let newInput = silence
        while true {
            let capacity = Int(inBuffer.frameCapacity)
            let zeros = min(silence, capacity)
            silence -= zeros
            for i in 0..<zeros { channel[i] = 0 }
            let n = zeros + input.read(into: UnsafeMutableBufferPointer(start: channel + zeros, count: capacity - zeros))
            guard n > 0 else { break }
            inBuffer.frameLength = AVAudioFrameCount(n)
            let samples = convert(inBuffer, from: hardware)
            if !samples.isEmpty {
                let play = process(samples)
                play.withUnsafeBufferPointer { if let base = $0.baseAddress { output.write(base, frames: $0.count) } }
            }
            if n < capacity { break }
        }
        let outputDrops = output.dropped
        let newOutput = outputDrops - outputDropsSeen
        outputDropsSeen = outputDrops
        if newInput > 0 || newOutput > 0 {
            let seconds = (Double(newInput) / hardware.sampleRate, Double(newOutput) / format.sampleRate)
            drops.withLock { $0.inputSeconds += seconds.0; $0.outputSeconds += seconds.1 }
        }
    }

    private func convert(_ block: AVAudioPCMBuffer, from hardware: AVAudioFormat) -> [Float] {
        guard let converter, let outBuffer, let out = outBuffer.floatChannelData else { return [] }
        outBuffer.frameLength = 0
        var consumed = false
        var error: NSError?
        // one input block per call; .noDataNow keeps the resampler's state for the next block
        let status = converter.convert(to: outBuffer, error: &error) { _, state in
            if consumed {
                state.pointee = .noDataNow
                return nil
            }
            consumed = true
            state.pointee = .haveData
            return block
        }
        guard status != .error, error == nil else { return [] }
        return Array(UnsafeBufferPointer(start: out[0], count: Int(outBuffer.frameLength)))
    }

    // MARK: notifications -> a rebuild on the worker

    private func observe() {
        let center = NotificationCenter.default
        let rebuild: @Sendable (Notification) -> Void = { [weak self] _ in
            guard let self else { return }
            self.worker.async { self.restart() }
        }
        // the engine stops itself when the input or output format changes (headphones, a Bluetooth headset)
        observers.append(center.addObserver(forName: .AVAudioEngineConfigurationChange, object: engine, queue: nil, using: rebuild))
        #if os(iOS)
        let session = AVAudioSession.sharedInstance()
        observers.append(center.addObserver(forName: AVAudioSession.interruptionNotification, object: session, queue: nil) { note in
            // a call or an alarm stopped the engine; when it ends with "should resume", start a new stream
            guard let raw = note.userInfo?[AVAudioSessionInterruptionTypeKey] as? UInt,
                  AVAudioSession.InterruptionType(rawValue: raw) == .ended else { return }
            let options = (note.userInfo?[AVAudioSessionInterruptionOptionKey] as? UInt).map(AVAudioSession.InterruptionOptions.init(rawValue:))
            if options?.contains(.shouldResume) ?? false { rebuild(note) }
        })
        observers.append(center.addObserver(forName: AVAudioSession.routeChangeNotification, object: session, queue: nil) { [weak self] note in
            // a device came or went; if the engine did not survive it, rebuild on the new route
            guard let raw = note.userInfo?[AVAudioSessionRouteChangeReasonKey] as? UInt,
                  let reason = AVAudioSession.RouteChangeReason(rawValue: raw),
                  reason == .newDeviceAvailable || reason == .oldDeviceUnavailable, let self else { return }
            self.worker.async { if !self.engine.isRunning { self.restart() } }
        })
        #endif
    }
}
#endif
