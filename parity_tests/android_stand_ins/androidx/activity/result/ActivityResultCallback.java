// Stand-in for compiling the sample app off-device: signature copied from androidx.activity:activity 1.9.2.
package androidx.activity.result;
public interface ActivityResultCallback<O> { void onActivityResult(O result); }
