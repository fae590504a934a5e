// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.tasks.vision.facelandmarker;
import android.content.Context;
import com.google.mediapipe.framework.image.MPImage;
import com.google.mediapipe.tasks.core.BaseOptions;
import com.google.mediapipe.tasks.vision.core.RunningMode;
public final class FaceLandmarker implements AutoCloseable {
    public static FaceLandmarker createFromOptions(Context context, FaceLandmarkerOptions landmarkerOptions) { throw new RuntimeException("Stub!"); }
    public FaceLandmarkerResult detectForVideo(MPImage image, long timestampMs) { throw new RuntimeException("Stub!"); }
    public void close() { throw new RuntimeException("Stub!"); }
    public abstract static class FaceLandmarkerOptions {
        public static Builder builder() { throw new RuntimeException("Stub!"); }
        public abstract static class Builder {
            public abstract Builder setBaseOptions(BaseOptions value);
            public abstract Builder setRunningMode(RunningMode value);
            public abstract Builder setNumFaces(Integer value);
            public final FaceLandmarkerOptions build() { throw new RuntimeException("Stub!"); }
        }
    }
}
