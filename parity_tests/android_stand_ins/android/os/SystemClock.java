// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.os;
public final class SystemClock {
    public static long elapsedRealtime() { throw new RuntimeException("Stub!"); }
    public static long elapsedRealtimeNanos() { throw new RuntimeException("Stub!"); }
}
