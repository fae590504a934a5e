import AVSepRing
import Foundation

/// Samples handed between a real-time audio thread and a worker, through the C11 ring of AVSepRing: one writer and
/// one reader, neither takes a lock or allocates, and the writer never waits (what does not fit is dropped and
/// counted). Use one ring per direction: microphone -> worker (the sink node writes), worker -> speaker (the source
/// node reads).
public final class SampleRing: @unchecked Sendable { // one producer and one consumer thread, by contract
    private let ring: OpaquePointer  // avsep_ring *, opaque in C (Swift cannot import _Atomic fields)

    /// Allocates `capacity` samples: call before audio starts.
    public init(capacity: Int) {
        guard let ring = avsep_ring_create(capacity) else { preconditionFailure("the sample ring could not allocate \(capacity) samples") }
        self.ring = ring
    }

    deinit { avsep_ring_destroy(ring) }

    /// Producer: `frames` samples `stride` floats apart (N: channel 0 of N interleaved channels); `hostTime` of the
    /// block is kept for the first one (the audio clock's anchor). Returns how many fitted. Real-time safe.
    @discardableResult
    public func write(_ samples: UnsafePointer<Float>, frames: Int, stride: Int = 1, hostTime: UInt64 = 0) -> Int {
        avsep_ring_write(ring, samples, frames, stride, hostTime)
    }

    /// Consumer: up to out.count samples into `out`, oldest first; returns how many. Real-time safe.
    public func read(into out: UnsafeMutableBufferPointer<Float>) -> Int {
        guard let base = out.baseAddress else { return 0 }
        return avsep_ring_read(ring, base, out.count)
    }

    /// Samples the writer had no room for, since the last clear.
    public var dropped: Int { avsep_ring_dropped(ring) }

    /// The first written block's host time (mach absolute time), nil before any.
    public var firstHostTime: UInt64? {
        let t = avsep_ring_first_stamp(ring)
        return t == 0 ? nil : t
    }

    /// Between streams, with the writer stopped: empty, counters cleared.
    public func clear() { avsep_ring_clear(ring) }
}
