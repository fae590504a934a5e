// Stand-in for compiling the sample app off-device: signature copied from androidx.activity:activity 1.9.2.
package androidx.activity.result;
public abstract class ActivityResultLauncher<I> {
    public void launch(I input) { throw new RuntimeException("Stub!"); }
}
