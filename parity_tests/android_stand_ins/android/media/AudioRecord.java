// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.media;
public class AudioRecord {
    public static final int STATE_INITIALIZED = 1;
    public static final int SUCCESS = 0;
    public static final int READ_BLOCKING = 0;
    public AudioRecord(int audioSource, int sampleRateInHz, int channelConfig, int audioFormat, int bufferSizeInBytes) { throw new RuntimeException("Stub!"); }
    public static int getMinBufferSize(int sampleRateInHz, int channelConfig, int audioFormat) { throw new RuntimeException("Stub!"); }
    public int getState() { throw new RuntimeException("Stub!"); }
    public void startRecording() { throw new RuntimeException("Stub!"); }
    public void stop() { throw new RuntimeException("Stub!"); }
    public void release() { throw new RuntimeException("Stub!"); }
    public int read(float[] audioData, int offsetInFloats, int sizeInFloats, int readMode) { throw new RuntimeException("Stub!"); }
    public int getTimestamp(AudioTimestamp outTimestamp, int timebase) { throw new RuntimeException("Stub!"); }
}
