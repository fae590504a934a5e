// Stand-in for compiling the sample app off-device: signature copied from androidx.core:core 1.13.1.
package androidx.core.content;
import android.content.Context;
import java.util.concurrent.Executor;
public class ContextCompat {
    public static int checkSelfPermission(Context context, String permission) { throw new RuntimeException("Stub!"); }
    public static Executor getMainExecutor(Context context) { throw new RuntimeException("Stub!"); }
}
