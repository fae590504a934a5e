// Stand-in for compiling the sample app off-device: signature copied from com.google.mediapipe:tasks-vision 0.10.29.
package com.google.mediapipe.tasks.vision.core;
public enum RunningMode { IMAGE, VIDEO, LIVE_STREAM }
