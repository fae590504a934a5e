// Stand-in for compiling the sample app off-device: signature copied from androidx.camera 1.3.4.
package androidx.camera.view;
import android.content.Context;
import androidx.camera.core.Preview;
public final class PreviewView extends android.widget.FrameLayout {
    public PreviewView(Context context) { super(context); throw new RuntimeException("Stub!"); }
    public Preview.SurfaceProvider getSurfaceProvider() { throw new RuntimeException("Stub!"); }
}
