// Stand-in for compiling the sample app off-device: signature copied from com.google.ai.edge.litert:litert 1.4.0 (org.tensorflow.lite).
package org.tensorflow.lite;
public interface Tensor {
    DataType dataType();
    int numElements();
    int numBytes();
    QuantizationParams quantizationParams();
    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) { throw new RuntimeException("Stub!"); }
        public float getScale() { throw new RuntimeException("Stub!"); }
        public int getZeroPoint() { throw new RuntimeException("Stub!"); }
    }
}
