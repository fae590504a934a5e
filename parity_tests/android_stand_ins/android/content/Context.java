// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.content;
import android.content.res.AssetManager;
import java.io.File;
import java.util.concurrent.Executor;
public abstract class Context {
    public static final String AUDIO_SERVICE = "audio";
    public abstract AssetManager getAssets();
    public abstract File getFilesDir();
    public abstract Object getSystemService(String name);
    public abstract void startActivity(Intent intent);
    public Executor getMainExecutor() { throw new RuntimeException("Stub!"); }
}
