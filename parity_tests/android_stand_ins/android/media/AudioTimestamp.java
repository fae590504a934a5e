// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.media;
public final class AudioTimestamp {
    public static final int TIMEBASE_MONOTONIC = 0;
    public static final int TIMEBASE_BOOTTIME = 1;
    public long framePosition;
    public long nanoTime;
    public AudioTimestamp() { throw new RuntimeException("Stub!"); }
}
