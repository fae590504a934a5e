// Stand-in for compiling the sample app off-device: signature copied from androidx.camera 1.3.4.
package androidx.camera.core;
public final class CameraSelector {
    public static final CameraSelector DEFAULT_FRONT_CAMERA = null;
}
