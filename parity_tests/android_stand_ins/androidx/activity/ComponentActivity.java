// Stand-in for compiling the sample app off-device: signature copied from androidx.activity:activity 1.9.2 (through androidx.core 1.13.1's ComponentActivity).
package androidx.activity;
import androidx.activity.result.ActivityResultCallback;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.contract.ActivityResultContract;
public class ComponentActivity extends android.app.Activity implements androidx.lifecycle.LifecycleOwner {
    public ComponentActivity() { throw new RuntimeException("Stub!"); }
    public final <I, O> ActivityResultLauncher<I> registerForActivityResult(ActivityResultContract<I, O> contract, ActivityResultCallback<O> callback) { throw new RuntimeException("Stub!"); }
}
