// Stand-in for compiling the sample app off-device: signature copied from androidx.camera 1.3.4.
package androidx.camera.core;
public final class Preview extends UseCase {
    public void setSurfaceProvider(SurfaceProvider surfaceProvider) { throw new RuntimeException("Stub!"); }
    public interface SurfaceProvider { }
    public static final class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        public Preview build() { throw new RuntimeException("Stub!"); }
    }
}
