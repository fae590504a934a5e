// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.media;
public final class AudioFormat {
    public static final int ENCODING_PCM_FLOAT = 4;
    public static final int CHANNEL_IN_MONO = 16;
    public static final int CHANNEL_OUT_MONO = 4;
    public static class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        public Builder setEncoding(int encoding) { throw new RuntimeException("Stub!"); }
        public Builder setSampleRate(int sampleRate) { throw new RuntimeException("Stub!"); }
        public Builder setChannelMask(int channelMask) { throw new RuntimeException("Stub!"); }
        public AudioFormat build() { throw new RuntimeException("Stub!"); }
    }
}
