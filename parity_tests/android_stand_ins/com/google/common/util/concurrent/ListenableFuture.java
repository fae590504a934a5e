// Stand-in for compiling the sample app off-device: signature copied from com.google.guava:listenablefuture 1.0.
package com.google.common.util.concurrent;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
public interface ListenableFuture<V> extends Future<V> {
    void addListener(Runnable listener, Executor executor);
}
