// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.media;
public class AudioTrack {
    public static final int MODE_STREAM = 1;
    public static final int WRITE_NON_BLOCKING = 1;
    public void play() { throw new RuntimeException("Stub!"); }
    public void stop() { throw new RuntimeException("Stub!"); }
    public void release() { throw new RuntimeException("Stub!"); }
    public int write(float[] audioData, int offsetInFloats, int sizeInFloats, int writeMode) { throw new RuntimeException("Stub!"); }
    public static class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        public Builder setAudioAttributes(AudioAttributes attributes) { throw new RuntimeException("Stub!"); }
        public Builder setAudioFormat(AudioFormat format) { throw new RuntimeException("Stub!"); }
        public Builder setTransferMode(int mode) { throw new RuntimeException("Stub!"); }
        public Builder setBufferSizeInBytes(int bufferSizeInBytes) { throw new RuntimeException("Stub!"); }
        public AudioTrack build() { throw new RuntimeException("Stub!"); }
    }
}
