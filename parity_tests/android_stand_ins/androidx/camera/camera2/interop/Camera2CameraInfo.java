// Stand-in for compiling the sample app off-device: signature copied from androidx.camera 1.3.4.
package androidx.camera.camera2.interop;
import android.hardware.camera2.CameraCharacteristics;
import androidx.camera.core.CameraInfo;
@ExperimentalCamera2Interop
public final class Camera2CameraInfo {
    public static Camera2CameraInfo from(CameraInfo cameraInfo) { throw new RuntimeException("Stub!"); }
    public <T> T getCameraCharacteristic(CameraCharacteristics.Key<T> key) { throw new RuntimeException("Stub!"); }
}
