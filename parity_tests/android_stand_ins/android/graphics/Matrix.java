// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.graphics;
public class Matrix {
    public Matrix() { throw new RuntimeException("Stub!"); }
    public boolean postRotate(float degrees) { throw new RuntimeException("Stub!"); }
}
