// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.graphics;
public final class Bitmap {
    public static Bitmap createBitmap(Bitmap source, int x, int y, int width, int height, Matrix m, boolean filter) { throw new RuntimeException("Stub!"); }
    public int getWidth() { throw new RuntimeException("Stub!"); }
    public int getHeight() { throw new RuntimeException("Stub!"); }
    public void getPixels(int[] pixels, int offset, int stride, int x, int y, int width, int height) { throw new RuntimeException("Stub!"); }
}
