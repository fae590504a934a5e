// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.framework.image;
public class BitmapImageBuilder {
    public BitmapImageBuilder(android.graphics.Bitmap bitmap) { throw new RuntimeException("Stub!"); }
    public MPImage build() { throw new RuntimeException("Stub!"); }
}
