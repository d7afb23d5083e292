//! The decode ladder: cheap passes first, dearer ones only when the cheap ones found
//! nothing. Each pass is binarisation at some resolution, then rqrr's finder search,
//! grid fitting and Reed-Solomon decoding. Which steps are here, and in this order, was
//! decided by measurement (tools/qrbench, numbers in README.md).

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::binarize::{self, Bits};
use super::gray::{self, Gray};
use super::{DecodedCode, LumaFrame, Point, QrError, finder, stream, text};
use crate::qr::render::EcLevel;

/// Which preprocessing steps the decoder may use. The default is the tuned ladder;
/// switching steps off exists to measure what each one earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Look at large frames at reduced resolution first. Off by default: on the
    /// qrbench frames it cost more 1280x720 reads (59 vs 65 of 134) than it saved time.
    pub downscale: bool,
    /// zxing-style local thresholding (uneven light, glare).
    pub local_threshold: bool,
    /// One Otsu threshold for the whole frame (large modules, clean prints).
    pub global_threshold: bool,
    /// Enlarge small frames so that small modules span enough pixels.
    pub upscale: bool,
    /// Try light-on-dark codes.
    pub inverted: bool,
    /// Run rqrr's own row-average threshold as the only pass (the baseline: rqrr used
    /// plainly). Overrides the other switches.
    pub plain_rqrr: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            downscale: false,
            local_threshold: true,
            global_threshold: true,
            upscale: true,
            inverted: true,
            plain_rqrr: false,
        }
    }
}

impl DecodeOptions {
    /// rqrr as its README shows it, for comparison.
    pub fn plain_rqrr() -> Self {
        Self { plain_rqrr: true, ..Self::default() }
    }
}

/// Decodes every QR code in a luminance plane with the default ladder.
pub fn decode_luma(frame: &LumaFrame<'_>) -> Result<Vec<DecodedCode>, QrError> {
    decode_luma_with(frame, &DecodeOptions::default())
}

/// Decodes encoded PNG or JPEG bytes (colour is reduced to luminance).
pub fn decode_image(encoded: &[u8]) -> Result<Vec<DecodedCode>, QrError> {
    decode_image_with(encoded, &DecodeOptions::default())
}

pub fn decode_image_with(encoded: &[u8], options: &DecodeOptions) -> Result<Vec<DecodedCode>, QrError> {
    decode_luma_with(&load_luma(encoded)?.frame(), options)
}

/// A luminance plane read from an encoded image.
#[derive(Debug, Clone)]
pub struct LumaImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl LumaImage {
    pub fn frame(&self) -> LumaFrame<'_> {
        LumaFrame { data: &self.data, width: self.width, height: self.height, stride: self.width }
    }
}

/// Reads PNG/JPEG bytes into a luminance image, refusing sizes the decoder would refuse
/// before the pixels are allocated (a few bytes of PNG header can claim gigapixels).
pub fn load_luma(encoded: &[u8]) -> Result<LumaImage, QrError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(encoded))
        .with_guessed_format()
        .map_err(|e| QrError::Image(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(gray::MAX_SIDE);
    limits.max_image_height = Some(gray::MAX_SIDE);
    limits.max_alloc = Some(gray::MAX_PIXELS * 4);
    reader.limits(limits);
    let img = catch_unwind(AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| QrError::Image("the image decoder failed on this input".into()))?
        .map_err(|e| QrError::Image(e.to_string()))?;
    let luma = img.into_luma8();
    let (width, height) = luma.dimensions();
    Ok(LumaImage { width, height, data: luma.into_raw() })
}

pub fn decode_luma_with(frame: &LumaFrame<'_>, options: &DecodeOptions) -> Result<Vec<DecodedCode>, QrError> {
    gray::validate(frame)?;
    if options.plain_rqrr {
        let img = Gray::from_frame(frame, 1);
        return Ok(run_contained(|| plain_pass(&img)));
    }
    for pass in ladder(frame, options) {
        let found = run_contained(|| pass.run(frame));
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// Longest side, in pixels, of the first (cheap) look at a frame. Codes a phone is
/// pointed at fill a good part of the view, so they survive this reduction; smaller
/// ones get the finer passes.
const COARSE_SIDE: usize = 800;
/// Longest side of the finest pass: bounds the work on photos from big sensors.
const FINE_SIDE: usize = 2048;
/// Shortest side, in pixels, worth a look at half the coarse resolution.
const MIN_COARSER_SIDE: usize = 160;
/// Frames up to this side are also tried enlarged 2x.
const UPSCALE_MAX_SIDE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threshold {
    Local,
    Global,
}

#[derive(Debug, Clone, Copy)]
struct Pass {
    /// Integer shrink factor from the frame.
    shrink: usize,
    upscale: bool,
    threshold: Threshold,
    invert: bool,
    /// Also run rqrr's locator when ours reads nothing.
    rqrr: bool,
}

fn ladder(frame: &LumaFrame<'_>, o: &DecodeOptions) -> Vec<Pass> {
    let side = frame.width.max(frame.height) as usize;
    let short = frame.width.min(frame.height) as usize;
    let fine = side.div_ceil(FINE_SIDE).max(1);
    let coarse = if o.downscale { ((side + COARSE_SIDE / 2) / COARSE_SIDE).max(fine) } else { fine };
    // Half the coarse resolution: a quarter of the pixels, and the local threshold's
    // fixed window then spans twice as many modules, which big, close codes need.
    let coarser = (o.downscale && short / (coarse * 2) >= MIN_COARSER_SIDE).then_some(coarse * 2);
    let primary = if o.local_threshold { Threshold::Local } else { Threshold::Global };
    let pass = |shrink, threshold| Pass { shrink, upscale: false, threshold, invert: false, rqrr: true };
    let mut passes = Vec::new();
    if !o.local_threshold && !o.global_threshold {
        return passes;
    }
    passes.push(pass(coarse, primary));
    passes.extend(coarser.map(|c| pass(c, primary)));
    if coarse != fine {
        passes.push(pass(fine, primary));
    }
    if o.local_threshold && o.global_threshold {
        passes.push(pass(coarse, Threshold::Global));
    }
    if o.upscale && side / fine <= UPSCALE_MAX_SIDE {
        passes.push(Pass { upscale: true, ..pass(fine, primary) });
    }
    if o.inverted {
        for shrink in std::iter::once(coarse).chain(coarser) {
            passes.push(Pass { invert: true, ..pass(shrink, primary) });
        }
    }
    passes
}

impl Pass {
    fn run(&self, frame: &LumaFrame<'_>) -> Vec<DecodedCode> {
        let mut img = Gray::from_frame(frame, self.shrink);
        let mut scale = self.shrink as f32;
        if self.upscale {
            img = img.upscale2();
            scale /= 2.0;
        }
        let mut bits = match self.threshold {
            Threshold::Local => binarize::local(&img),
            Threshold::Global => binarize::global(&img),
        };
        if self.invert {
            bits.iter_mut().for_each(|b| *b = !*b);
        }
        let mut found = detect(&bits, img.w, img.h, self.rqrr);
        for code in &mut found {
            for p in &mut code.corners {
                p.x = (p.x + 0.5) * scale - 0.5;
                p.y = (p.y + 0.5) * scale - 0.5;
            }
        }
        found
    }
}

fn plain_pass(img: &Gray) -> Vec<DecodedCode> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(img.w, img.h, |x, y| img.px[y * img.w + x]);
    read_grids(prepared.detect_grids())
}

/// Our finder-pattern detector first (cheap, and it survives blur and perspective that
/// defeat rqrr's locator), then rqrr's own locator on what ours did not read.
fn detect(bits: &Bits, w: usize, h: usize, rqrr: bool) -> Vec<DecodedCode> {
    let mut out: Vec<DecodedCode> = Vec::new();
    finder::detect(bits, w, h, |c| match read_grid(&c.grid, |_| c.corners) {
        Some(code) => {
            if !out.iter().any(|o| same_code(o, &code)) {
                out.push(code);
            }
            true
        }
        None => false,
    });
    if !out.is_empty() || !rqrr {
        return out;
    }
    let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| bits[y * w + x]);
    read_grids(prepared.detect_grids())
}

fn read_grids<G: rqrr::BitGrid>(grids: Vec<rqrr::Grid<G>>) -> Vec<DecodedCode> {
    let mut out: Vec<DecodedCode> = Vec::new();
    for grid in grids {
        if let Some(code) = read_grid(&grid.grid, |v| symbol_corners(&grid.bounds, v))
            && !out.iter().any(|c| same_code(c, &code))
        {
            out.push(code);
        }
    }
    out
}

/// rqrr's `Grid` owns its bit grid; this lends it one.
struct ByRef<'a, G>(&'a G);

impl<G: rqrr::BitGrid> rqrr::BitGrid for ByRef<'_, G> {
    fn size(&self) -> usize {
        self.0.size()
    }
    fn bit(&self, y: usize, x: usize) -> bool {
        self.0.bit(y, x)
    }
}

/// A grid that fails Reed-Solomon or format checks is not a code: no guess.
fn read_grid<G: rqrr::BitGrid>(grid: &G, corners: impl FnOnce(usize) -> [Point; 4]) -> Option<DecodedCode> {
    let mut bytes = Vec::new();
    let meta = rqrr::Grid::new(ByRef(grid)).decode_to(&mut bytes).ok()?;
    let stream = stream::read_segments(grid, &meta, &bytes);
    let (text, text_encoding) = text::decode_text(&bytes, stream.eci, stream.has_kanji);
    Some(DecodedCode {
        text,
        bytes,
        corners: corners(meta.version.0),
        version: meta.version.0 as u8,
        ec_level: EcLevel::from_rqrr(meta.ecc_level),
        text_encoding,
    })
}

/// rqrr's bounds reach one module past the symbol on the right and bottom (it maps
/// grid coordinate size + 1); pull them back along the edges from the top-left.
fn symbol_corners(bounds: &[rqrr::Point; 4], version: usize) -> [Point; 4] {
    let n = (17 + 4 * version) as f32;
    let tl = Point { x: bounds[0].x as f32, y: bounds[0].y as f32 };
    bounds.map(|p| Point {
        x: tl.x + (p.x as f32 - tl.x) * n / (n + 1.0),
        y: tl.y + (p.y as f32 - tl.y) * n / (n + 1.0),
    })
}

fn centre(c: &DecodedCode) -> (f32, f32) {
    let (sx, sy) = c.corners.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
    (sx / 4.0, sy / 4.0)
}

/// The same symbol found twice (rqrr can group one code's finders more than once).
fn same_code(a: &DecodedCode, b: &DecodedCode) -> bool {
    let ((ax, ay), (bx, by)) = (centre(a), centre(b));
    let size = (a.corners[0].x - a.corners[1].x).hypot(a.corners[0].y - a.corners[1].y);
    a.bytes == b.bytes && (ax - bx).hypot(ay - by) < size / 2.0
}

/// Runs one pass with rqrr's panics contained: a panic inside it means this input
/// tripped a bug there, and for the caller that frame simply holds no readable code.
fn run_contained(pass: impl FnOnce() -> Vec<DecodedCode>) -> Vec<DecodedCode> {
    match catch_unwind(AssertUnwindSafe(pass)) {
        Ok(found) => found,
        Err(_) => {
            tracing::debug!("QR decoder panicked on a frame; reported as no code");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod diag {
    use super::*;

    /// Where rqrr loses the qrbench frames: grids found vs decoded (local pass, full res).
    #[test]
    #[ignore]
    fn qrbench_diag() {
        let dir = std::env::var("QRBENCH_FRAMES").unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
        let mut names: Vec<_> = manifest.as_object().unwrap().keys().cloned().collect();
        names.sort();
        let (mut nogrid, mut grid_fail, mut ok) = (0, 0, 0);
        for name in names {
            let want = manifest[&name]["text"].as_str();
            let Some(want) = want else { continue };
            let img = load_luma(&std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
            let frame = img.frame();
            let g = Gray::from_frame(&frame, 1);
            let bits = binarize::local(&g);
            let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(g.w, g.h, |x, y| bits[y * g.w + x]);
            let grids = prepared.detect_grids();
            let n = grids.len();
            let dec = grids.iter().filter(|gr| {
                let mut b = Vec::new();
                gr.decode_to(&mut b).map(|_| b == want.as_bytes()).unwrap_or(false)
            }).count();
            let sizes: Vec<usize> = grids.iter().map(|gr| rqrr::BitGrid::size(&gr.grid)).collect();
            if dec > 0 { ok += 1 } else if n > 0 { grid_fail += 1; println!("{name} grids {sizes:?} want_len {}", want.len()) } else { nogrid += 1 }
        }
        println!("ok {ok} grid_but_fail {grid_fail} no_grid {nogrid}");
    }
}
