// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.media;
public class MediaRecorder {
    public final class AudioSource {
        public static final int VOICE_RECOGNITION = 6;
    }
}
