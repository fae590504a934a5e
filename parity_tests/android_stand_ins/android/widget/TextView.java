// Stand-in for compiling the sample app off-device: signature copied from the Android API level 34 SDK (android.jar).
package android.widget;
public class TextView extends android.view.View {
    public TextView(android.content.Context context) { super(context); throw new RuntimeException("Stub!"); }
    public final void setText(CharSequence text) { throw new RuntimeException("Stub!"); }
    public CharSequence getText() { throw new RuntimeException("Stub!"); }
    public void setTextIsSelectable(boolean selectable) { throw new RuntimeException("Stub!"); }
    public void setTypeface(android.graphics.Typeface tf) { throw new RuntimeException("Stub!"); }
    public android.graphics.Typeface getTypeface() { throw new RuntimeException("Stub!"); }
}
