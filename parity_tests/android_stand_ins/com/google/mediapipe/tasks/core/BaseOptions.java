// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.tasks.core;
public abstract class BaseOptions {
    public static Builder builder() { throw new RuntimeException("Stub!"); }
    public abstract static class Builder {
        public abstract Builder setModelAssetPath(String value);
        public final BaseOptions build() { throw new RuntimeException("Stub!"); }
    }
}
