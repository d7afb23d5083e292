// The library app teams build on machines with the Android toolchain (AGP, SDK, NDK
// and cargo-ndk). Not run on the project's CI: there, android/pom.xml compiles the
// same sources against Robolectric's android-all jar and runs the tests.
//
// One flavor per app build: taipeiOn (staff, every capability) and taipeiPass (citizens:
// login, wallet), e.g. `./gradlew assembleTaipeiPassRelease`. Before building one:
//   scripts/app-bindings <build>     the release library and the Kotlin generated from it,
//                                    in ../target/apps/<build>/kotlin
//   cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o src/<flavor>/jniLibs \
//       build -p taipei-ffi --release --no-default-features --features <build>
// The generated Kotlin checks on first use that the loaded library is that same build.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.2.21"
}

// rustls-platform-verifier's Kotlin part (what the core's HTTPS trust calls through JNI,
// see PlatformTrust) must be the release of the crate in ../Cargo.lock: its Maven
// repository, and the version read from the lock file, as the crate's README says.
repositories {
    google()
    mavenCentral()
    maven { url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/") }
}

abstract class RustlsVersion : ValueSource<String, RustlsVersion.Params> {
    interface Params : ValueSourceParameters {
        val lockFile: RegularFileProperty
    }

    override fun obtain(): String {
        val lines = parameters.lockFile.get().asFile.readLines()
        val at = lines.indexOfFirst { it.trim() == "name = \"rustls-platform-verifier-android\"" }
        return lines.drop(at + 1).firstOrNull { it.trimStart().startsWith("version = ") }
            ?.substringAfter('"')?.substringBefore('"')
            ?.takeIf { at >= 0 && it.isNotEmpty() }
            ?: error("rustls-platform-verifier-android not found in ../Cargo.lock")
    }
}

val rustlsPlatformVerifierVersion = providers.of(RustlsVersion::class.java) {
    parameters.lockFile.set(layout.projectDirectory.file("../Cargo.lock"))
}

configurations.configureEach {
    resolutionStrategy.eachDependency {
        if (requested.group == "rustls" && requested.name == "rustls-platform-verifier") {
            useVersion(rustlsPlatformVerifierVersion.get())
            because("the Kotlin part must be the version of the crate linked into libtaipei_ffi.so")
        }
    }
}

// flavor → the app build whose generated Kotlin and native library it takes.
val appBuilds = mapOf("taipeiOn" to "taipei-on", "taipeiPass" to "taipei-pass")

android {
    namespace = "tw.gov.taipei.android"
    compileSdk = 35

    defaultConfig {
        // API 26: java.util.Base64 and the AndroidKeyStore AES-GCM keys the glue uses.
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    flavorDimensions += "app"
    productFlavors {
        appBuilds.keys.forEach { create(it) { dimension = "app" } }
    }

    sourceSets["main"].java.srcDirs("src/main/kotlin")
    appBuilds.forEach { (flavor, build) ->
        sourceSets[flavor].apply {
            java.srcDirs("src/$flavor/kotlin", "../target/apps/$build/kotlin")
            jniLibs.srcDirs("src/$flavor/jniLibs")
        }
    }
    sourceSets["test"].java.srcDirs("src/test/kotlin")
    sourceSets["testTaipeiOn"].java.srcDirs("src/testTaipeiOn/kotlin")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    testOptions { unitTests.isIncludeAndroidResources = true }
}

dependencies {
    // JNA's Android build carries its own libjnidispatch.so per ABI.
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    // The platform verifier's Kotlin part; version pinned above from Cargo.lock.
    implementation("rustls:rustls-platform-verifier:latest.release")

    testImplementation("junit:junit:4.13.2")
    testImplementation("org.robolectric:robolectric:4.17")
    testImplementation("org.jetbrains.kotlin:kotlin-test-junit:2.2.21")
    // Host tests load the host build of the library: the jar JNA, not the aar.
    testImplementation("net.java.dev.jna:jna:5.19.1")
}
