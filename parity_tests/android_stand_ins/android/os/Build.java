// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.os;
public class Build {
    public static final String MODEL = null;
    public static class VERSION {
        public static final String RELEASE = null;
    }
}
