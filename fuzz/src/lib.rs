//! What the fuzz targets share.

/// rqrr's panics are contained by the decoder and expected; a panic in our own QR
/// engine (`qr/src/`) is a bug even though the decoder would contain it too, so it
/// aborts and libfuzzer reports it. Replaces the hook libfuzzer installs.
pub fn abort_on_qr_engine_panic() {
    std::panic::set_hook(Box::new(|info| {
        if info.location().is_some_and(|l| l.file().contains("qr/src/")) {
            eprintln!("panic in the QR engine: {info}");
            std::process::abort();
        }
    }));
}
