//! taipei-qr: read QR codes from camera frames and render codes. It knows nothing of
//! the rest of the project, so an app or a tool can use it without the client.
//!
//! Decoding is our own from the grey frame to the text: local thresholds, a finder
//! detector measuring edges to a fraction of a pixel, bilinear sampling, Reed–Solomon
//! correction and segment parsing, in a ladder of retries in cost order. rqrr (pure
//! Rust) remains as a second locator for what the finder detector misses. Every pass
//! is contained: a panic is reported as "no code", and the work per frame is bounded
//! by capping the working resolution and the number of passes. See README.md.
//!
//! Payload codecs (base10, base45, prefixes) live in `taipei_protocol::qrpayload`:
//! the server needs them too.

mod binarize;
mod decode;
mod finder;
mod gray;
pub mod render;
mod rs;
mod scanner;
mod scratch;
mod stream;
mod text;
#[cfg(test)]
mod tests;

pub use decode::{DecodeOptions, LumaImage, decode_luma, decode_luma_with};
#[cfg(feature = "image")]
pub use decode::{decode_image, decode_image_with, load_luma};
pub use render::{EcLevel, RenderOptions};
pub use scanner::{DEFAULT_BUDGET_MS, ScanOptions, Scanner};
pub use text::TextEncoding;

/// Frees the buffers the engine keeps between frames for reuse (megabytes after a
/// 720p frame); returns how many bytes were freed. Call it when scanning stops — the
/// next frame then allocates them again.
pub fn release_buffers() -> usize {
    scratch::release()
}

/// Bytes the engine keeps between frames for reuse (bounded; see [`release_buffers`]).
pub fn kept_buffer_bytes() -> usize {
    scratch::kept_bytes()
}

/// One luminance (Y) plane as phones hand it over: Android `ImageProxy` plane 0, iOS
/// `CVPixelBuffer` plane 0. `stride` is the distance in bytes between row starts
/// (`rowStride` / `bytesPerRowOfPlane`), at least `width`; padding bytes are ignored.
#[derive(Debug, Clone, Copy)]
pub struct LumaFrame<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: u32,
}

/// A point in the coordinates of the frame that was passed in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// One code found in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedCode {
    /// The payload as text (see [`TextEncoding`] for how bytes became text).
    pub text: String,
    /// The payload bytes exactly as the code carries them.
    pub bytes: Vec<u8>,
    /// Outer corners of the code, clockwise from the top-left of the symbol as printed
    /// (top-left, top-right, bottom-right, bottom-left), in frame coordinates.
    pub corners: [Point; 4],
    /// QR version, 1..=40.
    pub version: u8,
    pub ec_level: EcLevel,
    pub text_encoding: TextEncoding,
}

/// Why the QR engine refused a request. Decoding a valid frame that holds no code is
/// not an error: it returns an empty list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// The frame's size, stride or buffer length do not fit together.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// The frame is larger than the engine will look at.
    #[error("frame too large: {width}x{height} (limit {limit} pixels a side, {max_pixels} in all)")]
    FrameTooLarge { width: u32, height: u32, limit: u32, max_pixels: u64 },
    /// Encoded image bytes could not be read as PNG or JPEG (or the `image` feature,
    /// which reads them, is off).
    #[error("unreadable image: {0}")]
    Image(String),
    /// The text does not fit in a QR code at the chosen error-correction level.
    #[error("cannot render: {0}")]
    Render(String),
}

impl QrError {
    /// Stable code for logs and the FFI layer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidFrame(_) => "qr.invalid_frame",
            Self::FrameTooLarge { .. } => "qr.frame_too_large",
            Self::Image(_) => "qr.image_unreadable",
            Self::Render(_) => "qr.render_failed",
        }
    }
}
