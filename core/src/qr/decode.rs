//! The decode ladder: cheap passes first, dearer ones only when the cheap ones found
//! nothing. Each pass is binarisation at some resolution, then rqrr's finder search,
//! grid fitting and Reed-Solomon decoding. Which steps are here, and in this order, was
//! decided by measurement (tools/qrbench, numbers in README.md).

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::binarize::{self, Bits, Thresholds};
use super::gray::{self, Gray};
use super::{DecodedCode, LumaFrame, Point, QrError, finder, rs, stream, text};

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
    /// Also run rqrr's own locator (region search) once, when our finder detector
    /// read nothing on the primary view.
    pub rqrr_locator: bool,
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
            rqrr_locator: true,
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
    let mut images = Images { frame, grays: Vec::new(), thresholds: Vec::new() };
    for pass in ladder(frame, options) {
        let found = run_contained(|| pass.run(&mut images));
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// Longest side, in pixels, of the first (cheap) look at a frame when downscaling.
const COARSE_SIDE: usize = 800;
/// Longest side of the finest pass: bounds the work on photos from big sensors.
const FINE_SIDE: usize = 2048;
/// Shortest side, in pixels, worth a look at half the coarse resolution.
const MIN_COARSER_SIDE: usize = 160;
/// Frames up to this side are also tried enlarged 2x (1280x720 included: on qrbench
/// the enlarged view reads the most codes of any single pass at both frame sizes).
const UPSCALE_MAX_SIDE: usize = 1280;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threshold {
    Local,
    /// Local with 4x4 blocks.
    LocalFine,
    Global,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locator {
    /// Our finder-pattern detector and sampler (`finder.rs`).
    Finder,
    /// rqrr's region-based locator and grid fit.
    Rqrr,
}

/// One attempt: a view of the frame (resolution, threshold, polarity) and a locator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pass {
    /// Integer shrink factor from the frame.
    shrink: usize,
    upscale: bool,
    threshold: Threshold,
    invert: bool,
    locator: Locator,
}

/// The grey views and thresholds the passes share, each computed once per frame.
struct Images<'a> {
    frame: &'a LumaFrame<'a>,
    grays: Vec<((usize, bool), Gray)>,
    thresholds: Vec<((usize, bool, Threshold), Thresholds)>,
}

impl Images<'_> {
    fn gray_index(&mut self, shrink: usize, upscale: bool) -> usize {
        if let Some(i) = self.grays.iter().position(|(k, _)| *k == (shrink, upscale)) {
            return i;
        }
        let mut img = Gray::from_frame(self.frame, shrink);
        if upscale {
            img = img.upscale2();
        }
        self.grays.push(((shrink, upscale), img));
        self.grays.len() - 1
    }

    /// A grey view and its thresholds.
    fn view(&mut self, shrink: usize, upscale: bool, threshold: Threshold) -> (&Gray, &Thresholds) {
        let g = self.gray_index(shrink, upscale);
        let key = (shrink, upscale, threshold);
        let t = match self.thresholds.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let img = &self.grays[g].1;
                let t = match threshold {
                    Threshold::Local => binarize::thresholds::<8>(img),
                    Threshold::LocalFine => binarize::thresholds::<4>(img),
                    Threshold::Global => None,
                };
                let t = t.unwrap_or_else(|| binarize::global_thresholds(img));
                self.thresholds.push((key, t));
                self.thresholds.len() - 1
            }
        };
        (&self.grays[g].1, &self.thresholds[t].1)
    }
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
    let pass = |shrink, threshold, locator| Pass { shrink, upscale: false, threshold, invert: false, locator };
    let mut passes = Vec::new();
    if !o.local_threshold && !o.global_threshold {
        return passes;
    }
    // Order by reads per unit of time on qrbench (README): the primary view, then
    // the 2x enlargement (the finder's run-length test and the one-sample-per-module
    // sampler need ~3 px per module, and phone frames often give codes less), then
    // the other threshold, light-on-dark, and rqrr's locator last.
    passes.push(pass(coarse, primary, Locator::Finder));
    passes.extend(coarser.map(|c| pass(c, primary, Locator::Finder)));
    if coarse != fine {
        passes.push(pass(fine, primary, Locator::Finder));
    }
    if o.upscale && side / fine <= UPSCALE_MAX_SIDE {
        passes.push(Pass { upscale: true, ..pass(fine, primary, Locator::Finder) });
    }
    if o.local_threshold && o.global_threshold {
        passes.push(pass(coarse, Threshold::Global, Locator::Finder));
    }
    if o.inverted {
        passes.push(Pass { invert: true, ..pass(coarse, primary, Locator::Finder) });
    }
    if o.rqrr_locator {
        passes.push(pass(coarse, primary, Locator::Rqrr));
    }
    passes
}

impl Pass {
    fn run(&self, images: &mut Images<'_>) -> Vec<DecodedCode> {
        let (gray, thresholds) = images.view(self.shrink, self.upscale, self.threshold);
        let view = finder::View { gray, thresholds, invert: self.invert };
        let mut found = match self.locator {
            Locator::Finder => detect_finder(view, if self.upscale { 2 } else { 1 }),
            Locator::Rqrr => {
                let (w, h) = (gray.w, gray.h);
                let bits: Bits = binarize::apply_view(gray, thresholds, self.invert);
                let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| bits[y * w + x]);
                read_grids(prepared.detect_grids())
            }
        };
        let scale = if self.upscale { self.shrink as f32 / 2.0 } else { self.shrink as f32 };
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

/// Our finder-pattern detector: every symbol it samples that decodes.
fn detect_finder(view: finder::View<'_>, row_step: usize) -> Vec<DecodedCode> {
    let mut out: Vec<DecodedCode> = Vec::new();
    finder::detect(view, row_step, |c| match read_grid(&c.grid, |_| c.corners) {
        Some(code) => {
            if !out.iter().any(|o| same_code(o, &code)) {
                out.push(code);
            }
            true
        }
        None => false,
    });
    out
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

/// A grid that fails Reed-Solomon, format or segment checks is not a code: no guess.
fn read_grid<G: rqrr::BitGrid>(grid: &G, corners: impl FnOnce(usize) -> [Point; 4]) -> Option<DecodedCode> {
    let symbol = rs::correct(grid)?;
    let (bytes, stream) = stream::parse(&symbol.data, symbol.version)?;
    let (text, text_encoding) = text::decode_text(&bytes, stream.eci, stream.has_kanji);
    Some(DecodedCode {
        text,
        bytes,
        corners: corners(symbol.version),
        version: symbol.version as u8,
        ec_level: symbol.ec,
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

    /// What each pass of the ladder reads on the qrbench frames when every pass runs
    /// (no early return): reads, reads no other pass makes, wrong texts, time. Run with
    /// `QRBENCH_FRAMES=target/qrbench-frames/seed1-n150 cargo test --profile bench
    /// -p taipei-core --lib qr::decode::diag -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn qrbench_one() {
        let path = std::env::var("QRFRAME").expect("QRFRAME");
        let img = load_luma(&std::fs::read(path).unwrap()).unwrap();
        let frame = img.frame();
        let base = Pass { shrink: 1, upscale: false, threshold: Threshold::Local, invert: false, locator: Locator::Finder };
        let mut images = Images { frame: &frame, grays: Vec::new(), thresholds: Vec::new() };
        for pass in [Pass { threshold: Threshold::LocalFine, ..base }, Pass { upscale: true, ..base }] {
            eprintln!("{pass:?}");
            let found = pass.run(&mut images);
            eprintln!(" -> {}", found.len());
        }
    }

    /// One pass over every frame, for profiling.
    #[test]
    #[ignore]
    fn qrbench_one_pass() {
        let dir = std::env::var("QRBENCH_FRAMES").expect("QRBENCH_FRAMES");
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains("1280x720")).collect();
        names.sort();
        let imgs: Vec<_> = names.iter().map(|n| load_luma(&std::fs::read(n).unwrap()).unwrap()).collect();
        let base = Pass { shrink: 1, upscale: false, threshold: Threshold::LocalFine, invert: false, locator: Locator::Finder };
        let t = std::time::Instant::now();
        let mut reads = 0;
        for _ in 0..3 {
            for img in &imgs {
                let frame = img.frame();
                let mut images = Images { frame: &frame, grays: Vec::new(), thresholds: Vec::new() };
                reads += usize::from(!base.run(&mut images).is_empty());
            }
        }
        println!("reads {} ms/frame {:.2}", reads / 3, t.elapsed().as_secs_f64() * 1000.0 / (3 * imgs.len()) as f64);
    }

    #[test]
    #[ignore]
    fn qrbench_passes() {
        let dir = std::env::var("QRBENCH_FRAMES").expect("QRBENCH_FRAMES");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
        let mut names: Vec<_> = manifest.as_object().unwrap().keys().cloned().collect();
        names.sort();
        let size_filter = std::env::var("QRBENCH_SIZE").ok();
        let mut passes: Vec<Pass> = Vec::new();
        let mut reads: Vec<Vec<bool>> = Vec::new();
        let (mut wrong, mut micros) = (Vec::new(), Vec::new());
        let mut missed = Vec::new();
        for name in &names {
            if size_filter.as_deref().is_some_and(|s| !name.starts_with(s)) {
                continue;
            }
            let want = manifest[name]["text"].as_str();
            let img = load_luma(&std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
            let frame = img.frame();
            let base = Pass { shrink: 1, upscale: false, threshold: Threshold::Local, invert: false, locator: Locator::Finder };
            let mut ladder = Vec::new();
            for shrink in [1, 2] {
                for threshold in [Threshold::Local, Threshold::Global] {
                    for locator in [Locator::Finder, Locator::Rqrr] {
                        ladder.push(Pass { shrink, threshold, locator, ..base });
                    }
                }
            }
            ladder.push(Pass { upscale: true, ..base });
            ladder.push(Pass { upscale: true, locator: Locator::Rqrr, ..base });
            ladder.push(Pass { threshold: Threshold::LocalFine, ..base });
            ladder.push(Pass { threshold: Threshold::LocalFine, shrink: 2, ..base });
            ladder.push(Pass { invert: true, ..base });
            ladder.push(Pass { invert: true, shrink: 2, ..base });
            let mut images = Images { frame: &frame, grays: Vec::new(), thresholds: Vec::new() };
            let mut row = Vec::new();
            for pass in ladder {
                let i = passes.iter().position(|p| *p == pass).unwrap_or_else(|| {
                    passes.push(pass);
                    wrong.push(0);
                    micros.push(0u128);
                    passes.len() - 1
                });
                let t = std::time::Instant::now();
                let found = pass.run(&mut images);
                micros[i] += t.elapsed().as_micros();
                wrong[i] += found.iter().filter(|c| Some(c.text.as_str()) != want).count();
                row.push((i, want.is_some_and(|w| found.iter().any(|c| c.text == w))));
            }
            let mut r = vec![false; 32];
            for (i, ok) in row {
                r[i] = ok;
            }
            if want.is_some() && !r.iter().any(|&x| x) {
                missed.push(name.clone());
            }
            if want.is_some() {
                reads.push(r);
            }
        }
        for (i, p) in passes.iter().enumerate() {
            let n = reads.iter().filter(|r| r[i]).count();
            let only = reads.iter().filter(|r| r[i] && r.iter().filter(|&&x| x).count() == 1).count();
            println!("{p:?}: reads {n} only {only} wrong {} ms {}", wrong[i], micros[i] / 1000);
        }
        println!("read by any: {} of {}", reads.iter().filter(|r| r.iter().any(|&x| x)).count(), reads.len());
        println!("missed: {missed:?}");
    }
}
