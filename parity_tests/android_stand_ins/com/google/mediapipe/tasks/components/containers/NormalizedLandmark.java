// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.tasks.components.containers;
public abstract class NormalizedLandmark {
    public abstract float x();
    public abstract float y();
    public abstract float z();
}
