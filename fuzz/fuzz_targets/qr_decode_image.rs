//! Arbitrary bytes as an encoded image (PNG/JPEG) handed to the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let _ = taipei_core::qr::decode_image(data);
    }
);
