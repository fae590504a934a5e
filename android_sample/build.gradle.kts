// Versions that exist together (developer.android.com/build/releases/gradle-plugin, kotlinlang.org/docs/gradle-configure-project):
// AGP 8.7 needs Gradle 8.9+ (gradle/wrapper/gradle-wrapper.properties pins 8.9); Kotlin 2.1.0 supports AGP up to 8.7
// and Gradle up to 8.10. parity_tests/test_android_app.py checks the three against each other.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.0" apply false
    id("org.jetbrains.kotlin.jvm") version "2.1.0" apply false
}
