//! The Rust side of `scripts/ffi-bench`: the same work the Kotlin harness
//! (`tests/kotlin/ffibench`) does through the generated bindings, called here directly
//! on this crate's Rust functions, in the same build (release profile, the app's
//! features and SQLite options), so the difference between the two is what the FFI
//! costs: JNA's call, lowering and lifting the arguments, the copies across.
//!
//!   ffi_peer FRAME_FILE   writes the camera frame the Kotlin harness reads, then
//!                         prints median and p95 of each call
//!
//! Not a test and not part of scripts/test.

use std::time::Instant;

use taipei_core::qr::render::{EcLevel, RenderOptions, matrix};

/// What both sides decode, and the frame's geometry: a 1280×720 luma plane with the
/// row padding camera HALs add, one code (6 px modules, quiet zone 4) in its middle.
const TEXT: &str = "TPL1:bench-frame-0123456789";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const STRIDE: u32 = 1344;

/// Samples of the trivial call: each times a batch (a single call is near the
/// clock's resolution), reported per call.
const TRIVIAL_SAMPLES: usize = 10_000;
const TRIVIAL_BATCH: u32 = 100;
const FRAME_SAMPLES: usize = 200;

fn camera_frame() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let code = matrix(TEXT, &RenderOptions { ec_level: EcLevel::M, quiet_zone: 4, module_px: 6 })?;
    let module = 6;
    let side = code.width * module;
    let (left, top) = ((WIDTH - side) / 2, (HEIGHT - side) / 2);
    let mut plane = vec![0x70u8; (STRIDE * HEIGHT) as usize];
    for y in 0..side {
        for x in 0..side {
            let dark = code.is_dark(x / module, y / module);
            plane[((top + y) * STRIDE + left + x) as usize] = if dark { 0x00 } else { 0xff };
        }
    }
    Ok(plane)
}

/// Median and 95th percentile of `samples` (nanoseconds).
fn summary(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: ffi_peer FRAME_FILE")?;
    let frame = camera_frame()?;
    std::fs::write(&out, &frame)?;

    let mut sink = 0usize;
    for _ in 0..200_000 {
        sink += taipei_ffi::library_version().len();
    }
    let trivial: Vec<f64> = (0..TRIVIAL_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..TRIVIAL_BATCH {
                sink += std::hint::black_box(taipei_ffi::library_version()).len();
            }
            t.elapsed().as_nanos() as f64 / f64::from(TRIVIAL_BATCH)
        })
        .collect();
    let (median, p95) = summary(trivial);
    println!("rust   trivial call (library_version): median {median:.0} ns, p95 {p95:.0} ns ({TRIVIAL_SAMPLES} samples of {TRIVIAL_BATCH} calls)");

    // The argument is an owned Vec, as the FFI's lifted argument is: the clone here is
    // the copy the bindings make on the way in.
    let decode = |sink: &mut usize| -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let codes = taipei_ffi::decode_luma(frame.clone(), WIDTH, HEIGHT, STRIDE)?;
        let ns = t.elapsed().as_nanos() as f64;
        if codes.len() != 1 || codes[0].text != TEXT {
            return Err(format!("the frame decoded to {} codes, not the one written", codes.len()).into());
        }
        *sink += codes.len();
        Ok(ns)
    };
    for _ in 0..10 {
        decode(&mut sink)?;
    }
    let frames = (0..FRAME_SAMPLES).map(|_| decode(&mut sink)).collect::<Result<Vec<_>, _>>()?;
    let (median, p95) = summary(frames);
    println!(
        "rust   camera frame {WIDTH}x{HEIGHT} stride {STRIDE} (decode_luma): median {:.2} ms, p95 {:.2} ms ({FRAME_SAMPLES} frames)",
        median / 1e6,
        p95 / 1e6
    );
    if sink == 42 {
        println!();
    }
    Ok(())
}
