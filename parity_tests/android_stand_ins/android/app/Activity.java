// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.app;
import android.content.Intent;
import android.view.View;
public class Activity extends android.view.ContextThemeWrapper {
    public Activity() { throw new RuntimeException("Stub!"); }
    protected void onCreate(android.os.Bundle savedInstanceState) { throw new RuntimeException("Stub!"); }
    protected void onPause() { throw new RuntimeException("Stub!"); }
    protected void onDestroy() { throw new RuntimeException("Stub!"); }
    public Intent getIntent() { throw new RuntimeException("Stub!"); }
    public void setContentView(View view) { throw new RuntimeException("Stub!"); }
    public final void runOnUiThread(Runnable action) { throw new RuntimeException("Stub!"); }
    public boolean isDestroyed() { throw new RuntimeException("Stub!"); }
}
