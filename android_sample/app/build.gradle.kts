import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.avsep.sample"
    compileSdk = 34

    defaultConfig {
        applicationId = "org.avsep.sample"
        minSdk = 26
        targetSdk = 34
        versionCode = 1
        versionName = "1.0"
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
        // base64 of signing.pub (`avsep keygen`): set it and Separator loads only bundles signed with
        // that key (`avsep export android --sign signing.key`); empty: sha256 checks only.
        // Verified with BouncyCastle's Ed25519 (the core depends on it), so on every Android version the app runs on.
        buildConfigField("String", "AVSEP_SIGNING_KEY", "\"${(project.findProperty("avsepSigningKey") ?: "")}\"")
        // what the model sees of a mouth, as `avsep separate --lips`: "rendered" (the face mesh drives the
        // training renderer, bridge.json; the shipped model) or "crops" (real mouth crops): -PavsepLips=crops
        buildConfigField("String", "AVSEP_LIPS", "\"${(project.findProperty("avsepLips") ?: "rendered")}\"")
    }
    buildFeatures { buildConfig = true }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    // models and raw test vectors are copied out of the APK byte for byte; compressing them only slows that
    androidResources { noCompress += listOf("tflite", "bin", "task") }
}

kotlin { compilerOptions { jvmTarget.set(JvmTarget.JVM_17) } }

dependencies {
    implementation(project(":core"))
    implementation("com.google.ai.edge.litert:litert:1.4.0")
    // GpuDelegate's options class (GpuDelegateFactory.Options) lives in litert-gpu-api: without it the GPU path
    // fails with NoClassDefFoundError the moment it is chosen
    implementation("com.google.ai.edge.litert:litert-gpu:1.4.0")
    implementation("com.google.ai.edge.litert:litert-gpu-api:1.4.0")
    implementation("com.google.mediapipe:tasks-vision:0.10.29")

    val camerax = "1.3.4"
    implementation("androidx.camera:camera-core:$camerax")
    implementation("androidx.camera:camera-camera2:$camerax")
    implementation("androidx.camera:camera-lifecycle:$camerax")
    implementation("androidx.camera:camera-view:$camerax")

    implementation("androidx.activity:activity-ktx:1.9.2")
    implementation("androidx.core:core-ktx:1.13.1")
}
