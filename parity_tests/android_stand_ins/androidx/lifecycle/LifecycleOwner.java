// Stand-in for compiling the sample app off-device: signature copied from androidx.lifecycle:lifecycle-common 2.6.1 (a Kotlin interface there; only its type is used).
package androidx.lifecycle;
public interface LifecycleOwner { }
