// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.tasks.vision.facelandmarker;
import com.google.mediapipe.tasks.components.containers.NormalizedLandmark;
import java.util.List;
public abstract class FaceLandmarkerResult {
    public abstract List<List<NormalizedLandmark>> faceLandmarks();
}
