// Glue: the front camera's frames, upright, with their presentation time on the host clock; and its preview view.
#if canImport(SwiftUI)
import AVFoundation
import SwiftUI
#if os(iOS)
import UIKit
#else
import AppKit
#endif

/// Front camera frames, rotated upright on the connection, delivered on a private queue. Everything but `session`
/// (which the preview shows) is touched on that queue only, hence unchecked Sendable.
final class CameraCapture: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "org.avsep.camera")
    private var rotation: AVCaptureDevice.RotationCoordinator?
    private var onFrame: (@Sendable (CVPixelBuffer, CMTime) -> Void)?

    /// `onFrame` runs on the camera queue with each frame and its presentation time.
    func start(onFrame: @escaping @Sendable (CVPixelBuffer, CMTime) -> Void) throws {
        if session.inputs.isEmpty {
            guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .front) ?? AVCaptureDevice.default(for: .video) else {
                throw AppError("no camera")
            }
            session.beginConfiguration()
            session.sessionPreset = .vga640x480
            let input = try AVCaptureDeviceInput(device: device)
            let output = AVCaptureVideoDataOutput()
            output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
            output.alwaysDiscardsLateVideoFrames = true
            output.setSampleBufferDelegate(self, queue: queue)
            guard session.canAddInput(input), session.canAddOutput(output) else {
                session.commitConfiguration()
                throw AppError("the camera cannot be configured")
            }
            session.addInput(input)
            session.addOutput(output)
            session.commitConfiguration()
            // set before the queue starts delivering frames (the async below orders it before every read there)
            rotation = AVCaptureDevice.RotationCoordinator(device: device, previewLayer: nil)
        }
        queue.async {
            self.onFrame = onFrame
            self.session.startRunning() // blocks until running: keep it off the main thread
        }
    }

    /// A frame's presentation time in host-clock seconds (the clock AVAudioTime's host time counts).
    func hostSeconds(_ pts: CMTime) -> Double {
        let clock = session.synchronizationClock ?? CMClockGetHostTimeClock()
        return CMTimeGetSeconds(CMSyncConvertTime(pts, from: clock, to: CMClockGetHostTimeClock()))
    }

    func stop() {
        queue.async {
            self.session.stopRunning()
            self.onFrame = nil
        }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        if let angle = rotation?.videoRotationAngleForHorizonLevelCapture,
           connection.videoRotationAngle != angle, connection.isVideoRotationAngleSupported(angle) {
            connection.videoRotationAngle = angle
        }
        guard let frame = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        onFrame?(frame, CMSampleBufferGetPresentationTimeStamp(sampleBuffer))
    }
}

struct AppError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

#if os(iOS)
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ view: PreviewView, context: Context) {}
}
#else
struct CameraPreview: NSViewRepresentable {
    let session: AVCaptureSession

    func makeNSView(context: Context) -> NSView {
        let view = NSView()
        let layer = AVCaptureVideoPreviewLayer(session: session)
        layer.videoGravity = .resizeAspectFill
        view.layer = layer
        view.wantsLayer = true
        return view
    }

    func updateNSView(_ view: NSView, context: Context) {}
}
#endif
#endif
