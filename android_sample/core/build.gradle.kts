// Plain Kotlin/JVM: no Android API, so `./gradlew :core:test` runs anywhere with a JDK 17.
// The repository's tests compile these same sources with kotlinc (parity_tests/app_cores.py).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin { jvmToolchain(17) }

dependencies {
    // Android ships org.json in the platform; the JVM tests need an implementation
    compileOnly("org.json:json:20240303")
    testImplementation("org.json:json:20240303")
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // the case tables avsep_mobile/schedule.py and avsep_mobile/bridge.py write
    systemProperty("avsep.cases", rootDir.resolve("../parity_tests/data/schedule_cases.json").path)
    systemProperty("avsep.bridge_cases", rootDir.resolve("../parity_tests/data/bridge_cases.json").path)
}
