// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.widget;
public class RadioGroup extends LinearLayout {
    public RadioGroup(android.content.Context context) { super(context); throw new RuntimeException("Stub!"); }
    public void check(int id) { throw new RuntimeException("Stub!"); }
    public void setOnCheckedChangeListener(OnCheckedChangeListener listener) { throw new RuntimeException("Stub!"); }
    public interface OnCheckedChangeListener { void onCheckedChanged(RadioGroup group, int checkedId); }
}
