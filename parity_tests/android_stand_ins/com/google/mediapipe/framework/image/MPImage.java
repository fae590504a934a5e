// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.framework.image;
public class MPImage implements AutoCloseable {
    public void close() { throw new RuntimeException("Stub!"); }
}
