#if canImport(SwiftUI)
import AVFoundation
import SwiftUI
#if os(iOS)
import UIKit
#else
import AppKit
#endif

/// Front camera frames, rotated upright on the connection, delivered on a private queue.
final class CameraCapture: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate {
    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "org.avsep.camera")
    private var rotation: AVCaptureDevice.RotationCoordinator?
    private var onFrame: (@Sendable (CVPixelBuffer, CMTime) -> Void)?

    func start(onFrame: @escaping @Sendable (CVPixelBuffer, CMTime) -> Void) throws {
        self.onFrame = onFrame
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
            rotation = AVCaptureDevice.RotationCoordinator(device: device, previewLayer: nil)
        }
        let session = self.session
        queue.async { session.startRunning() } // blocks until running: keep it off the main thread
    }

    /// A frame's presentation time in host-clock seconds (the clock AVAudioTime's host time counts).
    func hostSeconds(_ pts: CMTime) -> Double {
        let clock = session.synchronizationClock ?? CMClockGetHostTimeClock()
        return CMTimeGetSeconds(CMSyncConvertTime(pts, from: clock, to: CMClockGetHostTimeClock()))
    }

    func stop() {
        let session = self.session
        queue.async { session.stopRunning() }
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
