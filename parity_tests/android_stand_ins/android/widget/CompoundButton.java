// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.widget;
public abstract class CompoundButton extends Button {
    public CompoundButton(android.content.Context context) { super(context); throw new RuntimeException("Stub!"); }
}
