//! Arbitrary bytes as a luminance frame of arbitrary size and stride.
//!
//! The first 6 bytes choose width, height and stride padding (kept small enough that
//! a run executes thousands of frames a second); the rest is the plane. The decoder
//! contains rqrr's panics itself, so the panic hook libfuzzer installs is replaced by
//! one that is silent for those and aborts on a panic anywhere in our QR engine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taipei_qr::{LumaFrame, decode_luma};

fuzz_target!(
    init: taipei_fuzz::abort_on_qr_engine_panic(),
    |data: &[u8]| {
        if data.len() < 6 {
            return;
        }
        let width = u32::from(u16::from_le_bytes([data[0], data[1]]) % 700);
        let height = u32::from(u16::from_le_bytes([data[2], data[3]]) % 700);
        let stride = width + u32::from(data[4] % 16);
        let plane = &data[6..];
        // Either stretch the bytes over the frame (so a small input fills a real frame)
        // or pass them as they are (so short buffers reach the validation).
        let stretched: Vec<u8>;
        let bytes = if data[5] & 1 == 0 && !plane.is_empty() {
            let len = (stride as usize) * (height as usize);
            stretched = plane.iter().copied().cycle().take(len).collect();
            &stretched[..]
        } else {
            plane
        };
        let _ = decode_luma(&LumaFrame { data: bytes, width, height, stride });
    }
);
