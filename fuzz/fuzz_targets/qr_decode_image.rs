//! Arbitrary bytes as an encoded image (PNG/JPEG) handed to the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // rqrr's panics are contained by the decoder and expected; a panic in our own
        // QR code is a bug even though the decoder would contain it too: abort so that
        // libfuzzer reports it.
        std::panic::set_hook(Box::new(|info| {
            if info.location().is_some_and(|l| l.file().contains("qr/src/")) {
                eprintln!("panic in the QR engine: {info}");
                std::process::abort();
            }
        }));
    },
    |data: &[u8]| {
        let _ = taipei_qr::decode_image(data);
    }
);
