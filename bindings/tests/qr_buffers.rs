//! The frame buffers the QR engine keeps between frames are given back when a scanner
//! closes. Its own test binary: the engine's pool is the process's, and no other test
//! may be decoding beside it.

use taipei_core::qr::{RenderOptions, render};
use taipei_ffi::{QrScanner, qr_buffer_bytes, release_qr_buffers};

/// A 1280×720 grey frame with a code of `text` at 4 pixels a module.
fn frame_with_code(text: &str) -> Vec<u8> {
    let (w, module) = (1280usize, 4usize);
    let m = render::matrix(text, &RenderOptions::default()).expect("renders");
    let mut plane = vec![200u8; w * 720];
    for y in 0..m.width {
        for x in 0..m.width {
            if m.is_dark(x, y) {
                for dy in 0..module {
                    let row = 100 + y as usize * module + dy;
                    let col = 300 + x as usize * module;
                    plane[row * w + col..row * w + col + module].fill(30);
                }
            }
        }
    }
    plane
}

#[test]
fn a_closed_scanner_leaves_no_frame_buffers_behind() {
    let text = "TPM1:1618033988749894";
    let plane = frame_with_code(text);
    let scanner = QrScanner::new();
    let codes = scanner.scan(plane.clone(), 1280, 720, 1280).expect("a valid frame");
    assert_eq!(codes.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), [text]);
    let kept = qr_buffer_bytes();
    assert!(kept >= 1280 * 720, "a 720p frame's buffers are kept for the next one: {kept} bytes");
    // The next frame reuses them rather than growing the pool.
    scanner.scan(plane.clone(), 1280, 720, 1280).expect("a valid frame");
    assert_eq!(qr_buffer_bytes(), kept);
    drop(scanner);
    assert_eq!(qr_buffer_bytes(), 0, "closing the scanner gives them back");

    // An app decoding frames itself releases them when it stops.
    taipei_ffi::decode_luma(plane, 1280, 720, 1280).expect("a valid frame");
    assert!(qr_buffer_bytes() > 0);
    assert_eq!(release_qr_buffers(), kept);
    assert_eq!(qr_buffer_bytes(), 0);
}
