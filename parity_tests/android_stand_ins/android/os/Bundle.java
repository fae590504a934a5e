// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.os;
public final class Bundle {
    public Bundle() { throw new RuntimeException("Stub!"); }
}
