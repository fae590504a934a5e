// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.media;
public final class AudioAttributes {
    public static final int USAGE_MEDIA = 1;
    public static final int CONTENT_TYPE_SPEECH = 1;
    public static class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        public Builder setUsage(int usage) { throw new RuntimeException("Stub!"); }
        public Builder setContentType(int contentType) { throw new RuntimeException("Stub!"); }
        public AudioAttributes build() { throw new RuntimeException("Stub!"); }
    }
}
