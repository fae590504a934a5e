// Stand-in for compiling the sample app off-device: signature copied from androidx.camera 1.3.4.
package androidx.camera.core;
public interface ImageInfo {
    long getTimestamp();
    int getRotationDegrees();
}
