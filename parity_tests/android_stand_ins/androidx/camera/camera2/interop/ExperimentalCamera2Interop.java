// Stand-in for compiling the sample app off-device: signature copied from androidx.camera 1.3.4.
package androidx.camera.camera2.interop;
import java.lang.annotation.*;
@Retention(RetentionPolicy.CLASS)
public @interface ExperimentalCamera2Interop { }
