//! Android: the JNI entry point that gives rustls-platform-verifier the app's JavaVM and
//! Context, so HTTPS trusts Android's certificate store and the app's network security
//! config. The Android glue (`tw.gov.taipei.android.PlatformTrust`) loads this library
//! with `System.loadLibrary` beside JNA and calls it once per process, before a client
//! opens; the core refuses https without `root_certs_pem` until it has run.
//!
//! Compiled for Android, and in host test builds against a stand-in for the
//! Android-only init, so the use of the jni API is checked without an NDK.

// A JNI entry point must be an unmangled `extern "system"` function: the JVM finds it
// by its name, which is the one `unsafe` attribute here.
#![allow(unsafe_code)]

use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject};

#[cfg(target_os = "android")]
use rustls_platform_verifier::android::init_with_env as init_verifier;

/// The host's stand-in, with the signature of the Android-only init.
#[cfg(not(target_os = "android"))]
fn init_verifier(env: &mut jni::Env<'_>, context: JObject<'_>) -> Result<(), jni::errors::Error> {
    let _ = (env, context);
    Ok(())
}

/// `PlatformTrust.nativeInit(context)` (a `@JvmStatic external fun`, hence the class
/// argument). Idempotent: the verifier keeps the first context it was given. A failure
/// (no class loader on the context, a JNI error) or a panic is thrown as a
/// `RuntimeException`, which `PlatformTrust.init` catches and logs.
#[unsafe(no_mangle)]
pub extern "system" fn Java_tw_gov_taipei_android_PlatformTrust_nativeInit<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) {
    unowned_env
        .with_env(|env| -> Result<(), jni::errors::Error> {
            init_verifier(env, context)?;
            taipei_core::net::tls::android_platform_verifier_ready();
            Ok(())
        })
        .resolve::<ThrowRuntimeExAndDefault>();
}
