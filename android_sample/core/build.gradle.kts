import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// Plain Kotlin/JVM: no Android API, so `./gradlew :core:test` runs anywhere with a JDK 17 or newer.
// The repository's tests compile these same sources with kotlinc (parity_tests/app_cores.py).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

// Java 17 bytecode from whichever JDK runs Gradle (Android Studio's bundled JDK 21 included): no toolchain
// to provision, so no toolchain resolver is needed.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}
kotlin { compilerOptions { jvmTarget.set(JvmTarget.JVM_17) } }

dependencies {
    // Ed25519 for signed bundles (Signing.kt): BouncyCastle's lightweight API, shipped with the app, because the
    // platform's java.security "Ed25519" is missing on many supported Android versions
    implementation("org.bouncycastle:bcprov-jdk18on:1.79")
    // Android ships org.json in the platform; the JVM tests need an implementation
    compileOnly("org.json:json:20240303")
    testImplementation("org.json:json:20240303")
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // the case tables avsep_mobile/app_cases.py writes from the Python reference (avsep_mobile/runtime/)
    val data = rootDir.resolve("../parity_tests/data")
    systemProperty("avsep.cases", data.resolve("schedule_cases.json").path)
    systemProperty("avsep.bridge_cases", data.resolve("bridge_cases.json").path)
    systemProperty("avsep.face_cases", data.resolve("face_cases.json").path)
    // a toy bundle signed by export/signing.py (`avsep export --sign`'s code), with its public key
    systemProperty("avsep.signed_bundle", data.resolve("signed_bundle").path)
    systemProperty("avsep.public_key", data.resolve("signed_bundle/signing.pub").path)
}
