// Stand-in for compiling the sample app off-device: signature copied from com.google.ai.edge.litert:litert 1.4.0 (org.tensorflow.lite).
package org.tensorflow.lite;
public interface Delegate extends AutoCloseable {
    long getNativeHandle();
    void close();
}
