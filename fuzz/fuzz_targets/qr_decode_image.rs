//! Arbitrary bytes as an encoded image (PNG/JPEG) handed to the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: taipei_fuzz::abort_on_qr_engine_panic(),
    |data: &[u8]| {
        let _ = taipei_qr::decode_image(data);
    }
);
