// Stand-in for compiling the sample app off-device: signature copied from androidx.activity:activity 1.9.2.
package androidx.activity.result.contract;
import java.util.Map;
public final class ActivityResultContracts {
    public static final class RequestMultiplePermissions extends ActivityResultContract<String[], Map<String, Boolean>> {
        public RequestMultiplePermissions() { throw new RuntimeException("Stub!"); }
    }
}
