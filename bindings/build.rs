//! Stamps the library with its contract: `taipei-ffi-contract:<version>:<build>:<interface>`.
//!
//! The scripts read this string out of the built library and write it into the Kotlin
//! and Swift they generate from it; the glue compares the two on first use, so code
//! generated from one build never runs against another build's library unnoticed
//! (`omit_checksums` in uniffi.toml turns uniffi's own per-function checks off).
//! `<interface>` is a digest of everything the generated code is made from: this
//! crate's sources and uniffi.toml.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned()));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=uniffi.toml");

    let mut files = Vec::new();
    collect_rust_files(&root.join("src"), &mut files);
    files.push(root.join("uniffi.toml"));
    files.sort();
    let mut digest = Fnv64::default();
    for file in &files {
        let name = file.strip_prefix(&root).unwrap_or(file);
        digest.write(name.to_string_lossy().as_bytes());
        digest.write(&[0]);
        digest.write(&fs::read(file).unwrap_or_default());
        digest.write(&[0]);
    }

    // The app build and the extras that change the exported surface.
    let mut build: Vec<&str> = Vec::new();
    for (feature, name) in [
        ("TAIPEI_ON", "taipei-on"),
        ("TAIPEI_PASS", "taipei-pass"),
        ("IMAGE", "image"),
        ("TEST_HOOKS", "test-hooks"),
    ] {
        if std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some() {
            build.push(name);
        }
    }
    let build = if build.is_empty() { "none".to_owned() } else { build.join("+") };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=TAIPEI_FFI_CONTRACT=taipei-ffi-contract:{version}:{build}:{:016x}", digest.0);
}

/// Every file under `src/` except the generator binary (`src/bin`), which is not part
/// of the library's surface.
fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                collect_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust releases (std's hasher is not) and needs no
/// dependency; this is an identity stamp, not a security check.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
