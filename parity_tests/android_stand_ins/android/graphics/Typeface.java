// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.graphics;
public class Typeface {
    public static final Typeface MONOSPACE = null;
}
