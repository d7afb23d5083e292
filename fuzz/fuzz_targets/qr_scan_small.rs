//! Small arbitrary frames through one `Scanner`, several frames per input: the
//! continuous-scan state (ladder position, the pass that paid off, frame size changes)
//! and every pass of the ladder at a throughput that reaches millions of runs.
//!
//! Each frame takes 3 bytes of geometry (width and height up to 95, stride padding)
//! and then its plane, stretched from what follows. A panic anywhere in the QR engine
//! (`qr/src/`) aborts, although the engine would contain it.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use taipei_qr::{LumaFrame, ScanOptions, Scanner};

fuzz_target!(
    init: taipei_fuzz::abort_on_qr_engine_panic(),
    |data: &[u8]| {
        // No budget: one later pass per frame, so a few frames walk the ladder.
        let mut scanner = Scanner::new(ScanOptions { budget: Duration::ZERO, ..ScanOptions::default() });
        for chunk in data.chunks(512).take(8) {
            if chunk.len() < 4 {
                return;
            }
            let (width, height) = (u32::from(chunk[0] % 96), u32::from(chunk[1] % 96));
            let stride = width + u32::from(chunk[2] % 8);
            let plane = &chunk[3..];
            let len = (stride as usize) * (height as usize);
            let bytes: Vec<u8> = plane.iter().copied().cycle().take(len).collect();
            let _ = scanner.scan(&LumaFrame { data: &bytes, width, height, stride });
        }
    }
);
