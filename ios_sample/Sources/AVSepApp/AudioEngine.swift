#if canImport(SwiftUI)
import AVFoundation
import AVSepCore

/// Microphone -> 16 kHz mono -> `process` -> loudspeaker, with the latency of the I/O buffer rather than of a
/// tap: an AVAudioSinkNode copies each hardware buffer (about 10 ms) into a ring on the real-time thread, a
/// worker converts and separates every 5 ms, and an AVAudioSourceNode plays what it returned. (A tap delivers
/// larger buffers than requested, 100 ms and more, which put the audio behind the video.)
/// It also keeps the audio clock: `audioNs(hostSeconds:)` places a host-time instant (a camera frame's)
/// on the clock the core schedules by (ns since the first sample handed to `process`).
final class AudioEngine: @unchecked Sendable { // the rings and clock lock; the worker runs on one queue
    private let engine = AVAudioEngine()
    private let format: AVAudioFormat
    private let worker = DispatchQueue(label: "org.avsep.audio-worker", qos: .userInteractive)
    private var timer: DispatchSourceTimer?
    private var input: SampleRing
    private let output: SampleRing
    private let clockLock = NSLock()
    private var sample0HostSeconds: Double?

    init(sampleRate: Int) {
        format = AVAudioFormat(commonFormat: .pcmFormatFloat32, sampleRate: Double(sampleRate), channels: 1, interleaved: false)!
        input = SampleRing(capacity: 48_000)
        output = SampleRing(capacity: sampleRate) // 1 s; beyond that playback drops rather than lags
    }

    func audioNs(hostSeconds: Double) -> Int64? {
        clockLock.lock(); defer { clockLock.unlock() }
        return sample0HostSeconds.map { Int64((hostSeconds - $0) * 1e9) }
    }

    /// `process` runs on the worker with each converted block and returns the PCM to play.
    func start(process: @escaping ([Float]) -> [Float]) throws {
        #if os(iOS)
        let session = AVAudioSession.sharedInstance()
        // measurement mode: no AGC or noise suppression in front of the model; 10 ms I/O buffers
        try session.setCategory(.playAndRecord, mode: .measurement, options: [.defaultToSpeaker, .allowBluetoothA2DP])
        try session.setPreferredIOBufferDuration(0.01)
        try session.setActive(true)
        #endif
        let inFormat = engine.inputNode.outputFormat(forBus: 0)
        guard inFormat.sampleRate > 0, let hardware = AVAudioFormat(commonFormat: .pcmFormatFloat32, sampleRate: inFormat.sampleRate, channels: 1, interleaved: false),
              let converter = AVAudioConverter(from: hardware, to: format) else {
            throw AppError("the microphone gives no usable format (\(inFormat))")
        }
        input = SampleRing(capacity: Int(inFormat.sampleRate))
        let ring = input
        let sink = AVAudioSinkNode { [weak self] timestamp, frames, buffers -> OSStatus in
            let list = UnsafeMutableAudioBufferListPointer(UnsafeMutablePointer(mutating: buffers))
            guard let data = list[0].mData else { return noErr }
            if let self, timestamp.pointee.mFlags.contains(.hostTimeValid) {
                self.clockLock.lock()
                if self.sample0HostSeconds == nil {
                    self.sample0HostSeconds = AVAudioTime.seconds(forHostTime: timestamp.pointee.mHostTime)
                }
                self.clockLock.unlock()
            }
            ring.write(UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: Int(frames)))
            return noErr
        }
        let out = output
        let source = AVAudioSourceNode(format: format) { _, _, frames, buffers -> OSStatus in
            let list = UnsafeMutableAudioBufferListPointer(buffers)
            guard let data = list[0].mData else { return noErr }
            _ = out.read(into: UnsafeMutableBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: Int(frames)))
            return noErr
        }
        engine.attach(sink)
        engine.attach(source)
        engine.connect(engine.inputNode, to: sink, format: hardware)
        engine.connect(source, to: engine.mainMixerNode, format: format)
        try engine.start()

        let t = DispatchSource.makeTimerSource(queue: worker)
        t.schedule(deadline: .now(), repeating: .milliseconds(5))
        t.setEventHandler { [weak self] in
            guard let self else { return }
            let block = ring.read()
            guard !block.isEmpty, let samples = self.convert(block, hardware, converter) else { return }
            let play = process(samples)
            play.withUnsafeBufferPointer { self.output.write($0) }
        }
        t.resume()
        timer = t
    }

    func stop() {
        timer?.cancel()
        timer = nil
        engine.stop()
        engine.reset()
        #if os(iOS)
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
        #endif
    }

    /// Samples dropped because a ring was full or busy (the worker fell behind): shown, not hidden.
    var dropped: Int { input.dropped + output.dropped }

    private func convert(_ samples: [Float], _ hardware: AVAudioFormat, _ converter: AVAudioConverter) -> [Float]? {
        guard let inBuf = AVAudioPCMBuffer(pcmFormat: hardware, frameCapacity: AVAudioFrameCount(samples.count)),
              let channel = inBuf.floatChannelData else { return nil }
        inBuf.frameLength = AVAudioFrameCount(samples.count)
        samples.withUnsafeBufferPointer { channel[0].update(from: $0.baseAddress!, count: samples.count) }
        let capacity = AVAudioFrameCount(Double(samples.count) * format.sampleRate / hardware.sampleRate) + 32
        guard let outBuf = AVAudioPCMBuffer(pcmFormat: format, frameCapacity: capacity) else { return nil }
        var consumed = false
        var error: NSError?
        // one input block per call; .noDataNow keeps the resampler's state for the next block
        let status = converter.convert(to: outBuf, error: &error) { _, state in
            if consumed {
                state.pointee = .noDataNow
                return nil
            }
            consumed = true
            state.pointee = .haveData
            return inBuf
        }
        guard status != .error, error == nil, let out = outBuf.floatChannelData else { return nil }
        return Array(UnsafeBufferPointer(start: out[0], count: Int(outBuf.frameLength)))
    }
}
#endif
