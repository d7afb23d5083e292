//! The QR engine (`taipei_core::qr`) for the apps' camera and display code: conversion
//! only.
//!
//! These are plain synchronous functions, not `Client` methods: decoding needs no
//! profile or network, and the camera's analyzer thread (CameraX `ImageAnalysis`,
//! AVCapture's sample-buffer queue) calls them once per frame and waits for the answer.
//! A panic is caught here and reported as `QrError::Internal`, never unwinding into
//! the JVM or Swift.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taipei_core::qr::{self, EcLevel, LumaFrame, RenderOptions, render};


/// Error-correction level of a code.
#[uniffi::remote(Enum)]
pub enum EcLevel {
    L,
    M,
    Q,
    H,
}

/// A point in the coordinates of the frame that was passed in.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct QrPoint {
    pub x: f32,
    pub y: f32,
}

/// One code found in a frame.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QrCode {
    /// The payload as text (UTF-8, the code's ECI charset, or Big5 / Shift_JIS /
    /// ISO-8859-1 as fallbacks).
    pub text: String,
    /// The payload bytes exactly as the code carries them.
    pub bytes: Vec<u8>,
    /// Four corners: top-left, top-right, bottom-right, bottom-left of the symbol as
    /// printed, in frame pixels.
    pub corners: Vec<QrPoint>,
    /// QR version, 1..=40.
    pub version: u8,
    pub ec_level: EcLevel,
}

impl From<qr::DecodedCode> for QrCode {
    fn from(c: qr::DecodedCode) -> Self {
        Self {
            text: c.text,
            bytes: c.bytes,
            corners: c.corners.iter().map(|p| QrPoint { x: p.x, y: p.y }).collect(),
            version: c.version,
            ec_level: c.ec_level,
        }
    }
}

/// Decodes every QR code in a luminance (Y) plane: Android `ImageProxy.planes[0]` or
/// iOS `CVPixelBuffer` plane 0. `stride` is the plane's row stride in bytes (at least
/// `width`); the last row may omit its padding. A frame without a code is an empty
/// list; only a malformed frame is an error. The whole ladder runs on a frame that
/// looks like holding a code: for a camera stream, [`QrScanner`] bounds each frame.
#[uniffi::export]
pub fn decode_luma(data: Vec<u8>, width: u32, height: u32, stride: u32) -> Result<Vec<QrCode>, QrError> {
    contained(|| qr::decode_luma(&LumaFrame { data: &data, width, height, stride }))
}

/// Continuous scanning for a camera stream: one per stream, called with every frame.
/// Each frame costs at most about its time budget (the first pass always runs): the
/// first pass looks at every frame, a frame showing nothing like a code stops there,
/// and the engine's later passes are spread over the following frames, the one that
/// read the last code tried first. Calls from several threads are serialised.
#[derive(Debug, uniffi::Object)]
pub struct QrScanner {
    inner: Mutex<qr::Scanner>,
}

#[uniffi::export]
impl QrScanner {
    /// A scanner with the engine's default per-frame budget (15 ms).
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Self::with_budget(qr::DEFAULT_BUDGET_MS as u32)
    }

    /// A scanner whose frames start no further pass after `budget_ms` milliseconds;
    /// 0 still runs the first look and one later pass per frame.
    #[uniffi::constructor]
    pub fn with_budget(budget_ms: u32) -> Arc<Self> {
        let options = qr::ScanOptions { budget: Duration::from_millis(budget_ms.into()), ..qr::ScanOptions::default() };
        Arc::new(Self { inner: Mutex::new(qr::Scanner::new(options)) })
    }

    /// The codes read in this luma plane (the same arguments as [`decode_luma`]); an
    /// empty list for a frame with none or one whose turn of the ladder read nothing.
    pub fn scan(&self, data: Vec<u8>, width: u32, height: u32, stride: u32) -> Result<Vec<QrCode>, QrError> {
        contained(|| {
            // A panic inside a scan leaves the scanner's state consistent (it only
            // holds a ladder position), so a poisoned lock is taken over.
            let mut scanner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            scanner.scan(&LumaFrame { data: &data, width, height, stride })
        })
    }
}

/// Closing a scanner (Kotlin `close()`, Swift's last reference gone) gives back the
/// megabytes the engine keeps between frames: a camera screen that closes its scanner
/// leaves nothing behind on the analyzer's thread. Another scanner still running
/// allocates them again on its next frame.
impl Drop for QrScanner {
    fn drop(&mut self) {
        let freed = qr::release_buffers();
        tracing::debug!(freed, "QR scanner closed, frame buffers released");
    }
}

/// Frees the frame buffers the QR engine keeps between frames for reuse; the bytes
/// freed. For apps that call [`decode_luma`] themselves when their scanning stops
/// ([`QrScanner`] does it when closed).
#[uniffi::export]
pub fn release_qr_buffers() -> u64 {
    qr::release_buffers() as u64
}

/// Bytes the QR engine keeps between frames for reuse: about 3 MB after a 720p frame
/// its first pass reads, about 20 MB after one that ran the whole ladder, never more
/// than 48 MB per buffer type.
#[uniffi::export]
pub fn qr_buffer_bytes() -> u64 {
    qr::kept_buffer_bytes() as u64
}

/// Decodes every QR code in an encoded PNG or JPEG image.
#[cfg(feature = "image")]
#[uniffi::export]
pub fn decode_image(encoded: Vec<u8>) -> Result<Vec<QrCode>, QrError> {
    contained(|| qr::decode_image(&encoded))
}

/// The code for `text` as an SVG document (one unit per module).
#[uniffi::export]
pub fn render_svg(text: String, ec_level: EcLevel, quiet_zone: u32) -> Result<String, QrError> {
    let options = RenderOptions { ec_level, quiet_zone, ..RenderOptions::default() };
    guard(|| render::svg(&text, &options))
}

/// The code for `text` as an 8-bit grey PNG, `module_px` pixels per module.
#[uniffi::export]
pub fn render_png(text: String, ec_level: EcLevel, quiet_zone: u32, module_px: u32) -> Result<Vec<u8>, QrError> {
    guard(|| render::png(&text, &RenderOptions { ec_level, quiet_zone, module_px }))
}

fn contained(f: impl FnOnce() -> Result<Vec<qr::DecodedCode>, qr::QrError>) -> Result<Vec<QrCode>, QrError> {
    guard(|| f().map(|codes| codes.into_iter().map(QrCode::from).collect()))
}

/// The core already contains its decoder's panics; this is the last line, for a bug
/// of our own.
fn guard<T>(f: impl FnOnce() -> Result<T, qr::QrError>) -> Result<T, QrError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(QrError::from),
        Err(payload) => {
            let text = crate::runtime::panic_text(payload.as_ref());
            tracing::error!(panic = %text, "a panic was caught in the QR engine");
            Err(QrError::Internal { code: "panic".to_owned(), detail: format!("the QR engine hit a bug (panic: {text})") })
        }
    }
}

/// What the QR functions (`decode_luma`, `decode_image`, `render_*`) refuse. `code` is
/// the engine's stable code: `qr.invalid_frame`, `qr.frame_too_large`,
/// `qr.image_unreadable`, `qr.render_failed`, or `panic` for a bug of ours. A frame that
/// simply holds no code is not an error but an empty list. No profile is involved, so
/// it has none of the client's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum QrError {
    /// The frame's size, stride and buffer length do not fit together, or it is
    /// larger than the engine looks at.
    #[error("{detail} ({code})")]
    InvalidFrame { code: String, detail: String },
    /// Encoded bytes that are not a readable PNG or JPEG.
    #[error("{detail} ({code})")]
    ImageUnreadable { code: String, detail: String },
    /// The text does not fit in a code at that level, or the layout is out of range.
    #[error("{detail} ({code})")]
    RenderFailed { code: String, detail: String },
    /// A bug in the library (a caught panic). Report it.
    #[error("{detail} ({code})")]
    Internal { code: String, detail: String },
}

#[uniffi::export]
impl QrError {
    /// The stable code, whatever the variant.
    pub fn code(&self) -> String {
        self.parts().0.to_owned()
    }

    /// What happened, for people.
    pub fn detail(&self) -> String {
        self.parts().1.to_owned()
    }
}

impl QrError {
    fn parts(&self) -> (&str, &str) {
        match self {
            Self::InvalidFrame { code, detail }
            | Self::ImageUnreadable { code, detail }
            | Self::RenderFailed { code, detail }
            | Self::Internal { code, detail } => (code, detail),
        }
    }
}

impl From<qr::QrError> for QrError {
    fn from(e: qr::QrError) -> Self {
        use qr::QrError as Engine;
        let (code, detail) = (e.code().to_owned(), e.to_string());
        match e {
            Engine::InvalidFrame(_) | Engine::FrameTooLarge { .. } => Self::InvalidFrame { code, detail },
            Engine::Image(_) => Self::ImageUnreadable { code, detail },
            Engine::Render(_) => Self::RenderFailed { code, detail },
        }
    }
}
