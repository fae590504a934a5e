// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.content.res;
import java.io.IOException;
import java.io.InputStream;
public final class AssetManager implements AutoCloseable {
    public InputStream open(String fileName) throws IOException { throw new RuntimeException("Stub!"); }
    public String[] list(String path) throws IOException { throw new RuntimeException("Stub!"); }
    public void close() { throw new RuntimeException("Stub!"); }
}
