// Stand-in for compiling the sample app off-device: signature copied from com.google.ai.edge.litert:litert 1.4.0 (org.tensorflow.lite).
package org.tensorflow.lite;
public enum DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8 }
