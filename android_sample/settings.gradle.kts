pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "avsep-sample"
// core: plain Kotlin/JVM (manifest, state, schedule, chunking, replay, report), tested off-device
// app: the Android adapters (LiteRT runner, CameraX, AudioRecord/AudioTrack, MediaPipe, screens)
include(":core", ":app")
