// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.hardware.camera2;
public final class CameraCharacteristics {
    public static final class Key<T> {
        private Key() { throw new RuntimeException("Stub!"); }
    }
    public static final Key<Integer> SENSOR_INFO_TIMESTAMP_SOURCE = null;
    public static final int SENSOR_INFO_TIMESTAMP_SOURCE_UNKNOWN = 0;
    public static final int SENSOR_INFO_TIMESTAMP_SOURCE_REALTIME = 1;
}
