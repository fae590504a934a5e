// Stand-in for compiling the sample app off-device: signature copied from com.google.ai.edge.litert:litert 1.4.0 (org.tensorflow.lite).
package org.tensorflow.lite;
import java.io.File;
import java.util.Map;
public final class Interpreter implements AutoCloseable {
    public Interpreter(File modelFile, Options options) { throw new RuntimeException("Stub!"); }
    public String[] getSignatureKeys() { throw new RuntimeException("Stub!"); }
    public String[] getSignatureInputs(String signatureKey) { throw new RuntimeException("Stub!"); }
    public String[] getSignatureOutputs(String signatureKey) { throw new RuntimeException("Stub!"); }
    public Tensor getInputTensorFromSignature(String inputName, String signatureKey) { throw new RuntimeException("Stub!"); }
    public Tensor getOutputTensorFromSignature(String outputName, String signatureKey) { throw new RuntimeException("Stub!"); }
    public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String signatureKey) { throw new RuntimeException("Stub!"); }
    public void close() { throw new RuntimeException("Stub!"); }
    public static class Options {
        public Options() { throw new RuntimeException("Stub!"); }
        public Options setNumThreads(int numThreads) { throw new RuntimeException("Stub!"); }
        public Options addDelegate(Delegate delegate) { throw new RuntimeException("Stub!"); }
    }
}
