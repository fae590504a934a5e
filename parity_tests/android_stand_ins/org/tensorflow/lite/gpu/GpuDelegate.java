// Stand-in for compiling the sample app off-device: signature copied from com.google.ai.edge.litert:litert-gpu 1.4.0.
package org.tensorflow.lite.gpu;
public class GpuDelegate implements org.tensorflow.lite.Delegate {
    public GpuDelegate() { throw new RuntimeException("Stub!"); }
    public long getNativeHandle() { throw new RuntimeException("Stub!"); }
    public void close() { throw new RuntimeException("Stub!"); }
}
