// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.content.pm;
public abstract class PackageManager {
    public static final int PERMISSION_GRANTED = 0;
}
