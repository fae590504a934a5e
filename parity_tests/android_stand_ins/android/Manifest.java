// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android;
public final class Manifest {
    public static final class permission {
        public static final String CAMERA = "android.permission.CAMERA";
        public static final String RECORD_AUDIO = "android.permission.RECORD_AUDIO";
    }
}
