//! The decode ladder: cheap passes first, dearer ones only when the cheap ones found
//! nothing. Each pass is a view of the frame (resolution, threshold, polarity) and a
//! locator (our finder detector, or rqrr's region search); every grid located is
//! corrected and parsed by `rs` and `stream`. Which steps are here, and in this order,
//! was decided by measurement (tools/qrbench, numbers in README.md).

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::binarize::{self, Bits, Thresholds};
use super::gray::{self, Gray};
use super::{DecodedCode, LumaFrame, Point, QrError, finder, rs, scratch, stream, text};

/// Which preprocessing steps the decoder may use. The default is the tuned ladder;
/// switching steps off exists to measure what each one earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Also look at the frame at half resolution, where a big, close code's modules
    /// are small enough for the thresholds' windows.
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
    /// Stop after the first pass when it saw nothing like a finder pattern
    /// ([`may_hold_code`]): most camera frames hold no code, and the rest of the
    /// ladder would cost them many times the first pass.
    pub first_look: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            downscale: true,
            local_threshold: true,
            global_threshold: true,
            upscale: true,
            inverted: true,
            rqrr_locator: true,
            plain_rqrr: false,
            first_look: true,
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
#[cfg(feature = "image")]
pub fn decode_image(encoded: &[u8]) -> Result<Vec<DecodedCode>, QrError> {
    decode_image_with(encoded, &DecodeOptions::default())
}

#[cfg(feature = "image")]
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
#[cfg(feature = "image")]
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
    let mut images = Images::new(frame);
    let whole = ladder(frame, options);
    let look = first_look(&whole, &mut images, options.first_look);
    if !look.go_on {
        return Ok(look.found);
    }
    let mut views = Views::new(images, &look);
    for (i, pass) in whole.iter().enumerate() {
        if !look.wants(i, pass) {
            continue;
        }
        let found = views.run(pass);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// Where the passes after the first look run: the whole frame, or only the crops
/// around the finder pairs the first look saw (each a frame of its own, its rows
/// borrowed, not copied, with its own views and thresholds).
pub(crate) struct Views<'a> {
    whole: Images<'a>,
    crops: Vec<(Crop, Images<'a>)>,
    /// Where the enlarged passes look, when not where the others do: around the
    /// pairs of small modules only; no crop at all skips them.
    enlarged: Option<Vec<(Crop, Images<'a>)>>,
}

impl<'a> Views<'a> {
    pub(crate) fn new(whole: Images<'a>, look: &FirstLook) -> Self {
        let images = |crops: &[Crop]| crops.iter().map(|c| (*c, Images::new(&c.frame(&whole.frame)))).collect::<Vec<_>>();
        let crops = images(look.regions.as_deref().unwrap_or_default());
        // Small-module pairs too many for crops of their own: they lie among the
        // others, whose crops serve.
        let enlarged = look.enlarged.as_deref().filter(|e| Some(*e) != look.regions.as_deref()).map(images);
        Self { whole, crops, enlarged }
    }

    /// One pass, contained, with the codes' corners in frame pixels.
    pub(crate) fn run(&mut self, pass: &Pass) -> Vec<DecodedCode> {
        let crops = match &mut self.enlarged {
            Some(enlarged) if pass.upscale => enlarged,
            _ if self.crops.is_empty() => return run_contained(|| pass.run(&mut self.whole)),
            _ => &mut self.crops,
        };
        let mut out = Vec::new();
        for (crop, images) in crops {
            for mut code in run_contained(|| pass.run(images)) {
                for p in &mut code.corners {
                    p.x += crop.x as f32;
                    p.y += crop.y as f32;
                }
                out.push(code);
            }
        }
        out
    }
}

/// A rectangle of the frame, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crop {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Crop {
    /// The crop as a frame of its own, borrowing the frame's rows.
    pub(crate) fn frame<'a>(&self, frame: &LumaFrame<'a>) -> LumaFrame<'a> {
        let stride = frame.stride as usize;
        LumaFrame { data: &frame.data[self.y * stride + self.x..], width: self.w as u32, height: self.h as u32, stride: frame.stride }
    }

    fn overlaps(&self, o: &Crop) -> bool {
        self.x <= o.x + o.w && o.x <= self.x + self.w && self.y <= o.y + o.h && o.y <= self.y + self.h
    }

    fn union(&self, o: &Crop) -> Crop {
        let (x, y) = (self.x.min(o.x), self.y.min(o.y));
        Crop { x, y, w: (self.x + self.w).max(o.x + o.w) - x, h: (self.y + self.h).max(o.y + o.h) - y }
    }
}

/// Separate crops the rest of the ladder may look at before the whole frame is cheaper.
const MAX_CROPS: usize = 4;
/// Share of the frame the crops may cover before the whole frame is looked at instead.
const MAX_CROP_SHARE: f64 = 0.8;

/// The crops of the frame that hold every symbol the pairs seen in a view (of
/// `shrink`) could belong to, overlapping ones merged; `None` when they are many or
/// cover most of the frame (the whole frame is then looked at).
fn crops(regions: &[([f64; 4], f64)], max_module: f64, shrink: usize, width: usize, height: usize) -> Option<Vec<Crop>> {
    let s = shrink as f64;
    let mut crops: Vec<Crop> = Vec::new();
    for (r, _) in regions.iter().filter(|(_, module)| *module <= max_module) {
        let (x0, y0) = ((r[0] * s).floor().max(0.0) as usize, (r[1] * s).floor().max(0.0) as usize);
        let (x1, y1) = ((r[2] * s).ceil().min(width as f64) as usize, (r[3] * s).ceil().min(height as f64) as usize);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        let mut crop = Crop { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
        // Merge with every crop it touches, and again with what the merged one touches.
        while let Some(i) = crops.iter().position(|c| c.overlaps(&crop)) {
            crop = crop.union(&crops.swap_remove(i));
        }
        crops.push(crop);
        if crops.len() > MAX_CROPS {
            return None;
        }
    }
    let area: usize = crops.iter().map(|c| c.w * c.h).sum();
    (area as f64 <= MAX_CROP_SHARE * (width * height) as f64).then_some(crops)
}

/// What the first look at a frame found, and whether the rest of the ladder is worth
/// running on it.
pub(crate) struct FirstLook {
    pub found: Vec<DecodedCode>,
    /// Indices of the ladder's passes already run.
    pub ran: Vec<usize>,
    /// Nothing read, and the frame shows finder-like patterns (or the look is off).
    pub go_on: bool,
    /// Where the rest of the ladder needs to look when it goes on: around the finder
    /// pairs the look saw; `None` for the whole frame.
    pub regions: Option<Vec<Crop>>,
    /// Where the enlarged passes look: around the pairs whose modules are small
    /// enough to need it (see [`ENLARGE_MAX_MODULE`]); `None` where `regions` say.
    pub enlarged: Option<Vec<Crop>>,
    /// Our finder located what looks like one symbol that did not decode: a sampling
    /// matched its fixed patterns, or a triple stood among a few candidates (three
    /// finders and a couple of stray marks, not a texture). Only on such frames has
    /// rqrr's locator, a second opinion on the grid, read what no other pass did (two
    /// frames of generator 2, none of generator 1, a code tilted 45° in the unit
    /// tests); elsewhere it read nothing, and it was the dearest pass of the ladder
    /// (a region search over the whole view): 45% of the ladder's time on generator 2.
    pub located: bool,
}

impl FirstLook {
    /// Whether the rest of the ladder runs pass `i` of it.
    pub(crate) fn wants(&self, i: usize, pass: &Pass) -> bool {
        !self.ran.contains(&i) && (pass.locator != Locator::Rqrr || self.located)
    }
}

/// The cheap first look: the first pass, which reads most codes alone. When it read
/// nothing and saw no two finder candidates that could belong to one symbol
/// ([`may_hold_code`]), the light-on-dark pass (a
/// light-on-dark code's finders show only there; it reuses the first pass's
/// thresholds and the row matches its scan kept, so the rows are not scanned again),
/// then the global threshold (a
/// big close code's modules are wider than the fine threshold's window, which then
/// breaks its finders; one histogram and one scan), which can only read, not send
/// the frame down the ladder. A frame where neither local view saw such a pair is
/// taken to hold no code: every locator of the ladder needs
/// finder patterns, and the views not looked at yet (enlarged, other local
/// thresholds) see the same patterns, only sharper.
pub(crate) fn first_look(ladder: &[Pass], images: &mut Images<'_>, enabled: bool) -> FirstLook {
    let Some(first) = ladder.first() else {
        return FirstLook { found: Vec::new(), ran: Vec::new(), go_on: false, regions: None, enlarged: None, located: false };
    };
    let (found, evidence) = run_contained(|| first.run_with_evidence(images));
    let (width, height) = (images.frame.width as usize, images.frame.height as usize);
    let regions = |e: Option<&finder::Evidence>, max_module: f64| e.and_then(|e| crops(&e.regions, max_module, first.shrink, width, height));
    let located = |e: Option<&finder::Evidence>| {
        e.is_none_or(|e| e.agreement >= finder::MIN_AGREEMENT || (e.triples > 0 && e.candidates <= FEW_CANDIDATES))
    };
    let mut look = FirstLook { go_on: found.is_empty(), found, ran: vec![0], regions: None, enlarged: None, located: true };
    if !look.go_on || !enabled {
        return look;
    }
    look.located = located(evidence.as_ref());
    if may_hold_code(evidence.as_ref()) {
        look.regions = regions(evidence.as_ref(), f64::INFINITY);
        look.enlarged = regions(evidence.as_ref(), ENLARGE_MAX_MODULE);
        return look;
    }
    let same_view = |p: &Pass| p.shrink == first.shrink && !p.upscale && p.locator == Locator::Finder;
    let inverted = ladder.iter().position(|p| same_view(p) && p.invert && p.threshold == first.threshold);
    let global = ladder.iter().position(|p| same_view(p) && !p.invert && p.threshold == Threshold::Global);
    if let Some(i) = inverted {
        let (found, evidence) = run_contained(|| ladder[i].run_with_evidence(images));
        look.ran.push(i);
        if !found.is_empty() || may_hold_code(evidence.as_ref()) {
            look.go_on = found.is_empty();
            look.found = found;
            look.regions = regions(evidence.as_ref(), f64::INFINITY);
            look.enlarged = regions(evidence.as_ref(), ENLARGE_MAX_MODULE);
            look.located |= located(evidence.as_ref());
            return look;
        }
    }
    // The global view reads a big code, but on scenes of tables and tiles it also
    // sees finder-like corners the local views do not: only its read counts.
    if let Some(i) = global {
        look.found = run_contained(|| ladder[i].run(images));
        look.ran.push(i);
    }
    look.go_on = false;
    look
}

/// Whether what a pass saw of finder patterns leaves a code plausible: two
/// candidates that could be two finder patterns of one symbol (sizes that fit, a
/// symbol's side or diagonal apart). `None` (not our finder locator) says nothing,
/// so it keeps the ladder going.
///
/// Counting candidates alone (two or more) kept the same reads, but sent more empty
/// frames down the ladder: on qrbench, 23 of 38 empty frames of generator 1 and 14 of
/// 47 of generator 2, against 15 and 12 with the pair rule (`decode::diag::qrbench_evidence`).
pub(crate) fn may_hold_code(evidence: Option<&finder::Evidence>) -> bool {
    evidence.is_none_or(|e| e.pairs > 0)
}

/// Largest module, in pixels of the first view, of a finder pair that the enlarged
/// passes look at: they are for codes at under ~2.5 px per module, and finder sizes
/// measured along rows read up to 1.4 times that on a code turned 45°.
const ENLARGE_MAX_MODULE: f64 = 4.0;

/// Finder candidates a view of one symbol shows, stray marks included (see
/// [`FirstLook::located`]).
const FEW_CANDIDATES: usize = 5;

/// Longest side of the finest pass: bounds the work on photos from big sensors.
const FINE_SIDE: usize = 2048;
/// Shortest side, in pixels, worth a look at half resolution.
const MIN_COARSER_SIDE: usize = 160;
/// Frames up to this side are also tried enlarged 2x (1280x720 included: on qrbench
/// the enlarged view reads the most codes of any single pass at both frame sizes).
const UPSCALE_MAX_SIDE: usize = 1280;

/// Rows the finder search scans: every second one. A finder pattern's centre is three
/// modules tall, so at 1.6 px per module (the smallest the ladder reads) two scanned
/// rows still cross it; on qrbench this halves the row work and loses no read. An
/// enlarged view doubles every module, so every fourth row crosses it as often.
const FINDER_ROW_STEP: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threshold {
    /// Local, 2x2-pixel blocks, each judged by the 7x7 blocks around it (a 14-pixel
    /// window): a few modules of a small code, so light that changes across the code
    /// (a gradient, a glare spot) moves the threshold with it.
    Fine,
    /// Local, 4x4 blocks, 5x5 around (20 pixels).
    Medium,
    /// Local, 8x8 blocks, 5x5 around (40 pixels): zxing's hybrid binariser.
    Coarse,
    /// One Otsu level for the whole view.
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
pub(crate) struct Pass {
    /// Integer shrink factor from the frame.
    shrink: usize,
    upscale: bool,
    threshold: Threshold,
    invert: bool,
    locator: Locator,
}

/// The grey views and thresholds the passes share, each computed once per frame.
pub(crate) struct Images<'a> {
    frame: LumaFrame<'a>,
    grays: Vec<((usize, bool), Gray)>,
    thresholds: Vec<((usize, bool, Threshold), Thresholds)>,
    /// The light-on-dark row matches the first pass's scan kept (`finder::Rows`), for
    /// the inverted pass of the same view and row step: on a frame that shows no finder
    /// pair it runs in the first look, and scanning the rows again had been most of it.
    mirrored: Option<(ScanKey, Vec<finder::RowMatch>)>,
}

/// A view (shrink, enlarged, threshold) and the step its rows are scanned at.
type ScanKey = (usize, bool, Threshold, usize);

impl<'a> Images<'a> {
    pub(crate) fn new(frame: &LumaFrame<'a>) -> Self {
        Self { frame: *frame, grays: Vec::new(), thresholds: Vec::new(), mirrored: None }
    }

    fn gray_index(&mut self, shrink: usize, upscale: bool) -> usize {
        if let Some(i) = self.grays.iter().position(|(k, _)| *k == (shrink, upscale)) {
            return i;
        }
        let mut img = Gray::from_frame(&self.frame, shrink);
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
                    Threshold::Fine => binarize::thresholds::<2>(img, 3),
                    Threshold::Medium => binarize::thresholds::<4>(img, 2),
                    Threshold::Coarse => binarize::thresholds::<8>(img, 2),
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

pub(crate) fn ladder(frame: &LumaFrame<'_>, o: &DecodeOptions) -> Vec<Pass> {
    let side = frame.width.max(frame.height) as usize;
    let short = frame.width.min(frame.height) as usize;
    // Frames from big sensors are looked at no finer than FINE_SIDE.
    let full = side.div_ceil(FINE_SIDE).max(1);
    let mut passes = Vec::new();
    let view = |shrink, threshold| Pass { shrink, upscale: false, threshold, invert: false, locator: Locator::Finder };
    let primary = match (o.local_threshold, o.global_threshold) {
        (true, _) => Threshold::Fine,
        (false, true) => Threshold::Global,
        (false, false) => return passes,
    };
    // Order by reads per unit of time on qrbench (README): the fine local threshold
    // reads most codes alone and cheaply; the 2x enlargements rescue codes at under
    // ~2.5 px per module; then the global threshold, a half-resolution look for big
    // close codes, light-on-dark, and rqrr's region-based locator last. The fine
    // threshold of the enlarged view (four times the blocks of any other map, the
    // dearest pass) and the medium one at full resolution read too few codes first
    // for their cost.
    passes.push(view(full, primary));
    if o.upscale && o.local_threshold && side / full <= UPSCALE_MAX_SIDE {
        for threshold in [Threshold::Medium, Threshold::Coarse] {
            passes.push(Pass { upscale: true, ..view(full, threshold) });
        }
    }
    // A frame from a big sensor was first looked at reduced; a far code's modules may
    // not survive that, so look again at up to twice the resolution.
    let finer = side.div_ceil(2 * FINE_SIDE).max(1);
    if finer < full {
        passes.push(view(finer, primary));
    }
    if o.local_threshold && o.global_threshold {
        passes.push(view(full, Threshold::Global));
    }
    if o.downscale && short / (full * 2) >= MIN_COARSER_SIDE {
        passes.push(view(full * 2, if o.local_threshold { Threshold::Coarse } else { primary }));
    }
    if o.inverted {
        passes.push(Pass { invert: true, ..view(full, primary) });
    }
    if o.rqrr_locator {
        passes.push(Pass { locator: Locator::Rqrr, ..view(full, if o.local_threshold { Threshold::Coarse } else { primary }) });
        if finer < full {
            passes.push(Pass { locator: Locator::Rqrr, ..view(finer, primary) });
        }
    }
    passes
}

impl Pass {
    pub(crate) fn run(&self, images: &mut Images<'_>) -> Vec<DecodedCode> {
        self.run_with_evidence(images).0
    }

    /// The codes read, and what the finder locator saw (`None` for rqrr's locator).
    pub(crate) fn run_with_evidence(&self, images: &mut Images<'_>) -> (Vec<DecodedCode>, Option<finder::Evidence>) {
        let row_step = if self.upscale { 2 * FINDER_ROW_STEP } else { FINDER_ROW_STEP };
        let key = (self.shrink, self.upscale, self.threshold, row_step);
        // Only the first pass's view has a light-on-dark pass of its own to keep matches for.
        let mirror = self.threshold == Threshold::Fine && !self.upscale && images.mirrored.is_none();
        let mirrored = images.mirrored.take();
        let mut kept = None;
        let (gray, thresholds) = images.view(self.shrink, self.upscale, self.threshold);
        let view = finder::View { gray, thresholds, invert: self.invert };
        let (mut found, evidence) = match self.locator {
            Locator::Finder => {
                let rows = match &mirrored {
                    Some((k, matches)) if self.invert && *k == key => finder::Rows::Matches(matches),
                    _ if mirror && !self.invert => finder::Rows::ScanAndMirror(&mut kept),
                    _ => finder::Rows::Scan,
                };
                let (found, evidence) = detect_finder(view, row_step, rows);
                (found, Some(evidence))
            }
            Locator::Rqrr => {
                let (w, h) = (gray.w, gray.h);
                let bits: Bits = binarize::apply(gray, thresholds, self.invert);
                let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| bits[y * w + x]);
                scratch::give(bits);
                (read_grids(prepared.detect_grids()), None)
            }
        };
        images.mirrored = mirrored.or(kept.map(|matches| (key, matches)));
        let scale = if self.upscale { self.shrink as f32 / 2.0 } else { self.shrink as f32 };
        for code in &mut found {
            for p in &mut code.corners {
                p.x = (p.x + 0.5) * scale - 0.5;
                p.y = (p.y + 0.5) * scale - 0.5;
            }
        }
        (found, evidence)
    }
}

fn plain_pass(img: &Gray) -> Vec<DecodedCode> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(img.w, img.h, |x, y| img.px[y * img.w + x]);
    read_grids(prepared.detect_grids())
}

/// Our finder-pattern detector: every symbol it samples that decodes.
fn detect_finder(view: finder::View<'_>, row_step: usize, rows: finder::Rows<'_>) -> (Vec<DecodedCode>, finder::Evidence) {
    let mut out: Vec<DecodedCode> = Vec::new();
    let evidence = finder::detect(view, row_step, rows, |c| match read_grid(&c.grid, |_| c.corners) {
        Some(code) => {
            if !out.iter().any(|o| same_code(o, &code)) {
                out.push(code);
            }
            true
        }
        None => false,
    });
    (out, evidence)
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

/// Runs one pass with panics contained: the caller gets "no code" for that pass rather
/// than a crash. A panic is still an engine bug (ours or rqrr's) on this input, so it
/// is logged at error level, without the frame's pixels.
pub(crate) fn run_contained<T: Default>(pass: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(pass)) {
        Ok(found) => found,
        Err(_) => {
            tracing::error!("QR decoder panicked on a frame (an engine bug); reported as no code");
            T::default()
        }
    }
}

#[cfg(all(test, feature = "image"))]
mod diag {
    use super::*;

    /// What each pass of the ladder reads on the qrbench frames when every pass runs
    /// (no early return): reads, reads no other pass makes, wrong texts, time. Run with
    /// `QRBENCH_FRAMES=target/qrbench-frames/seed1-n150 cargo test --profile bench
    /// -p taipei-qr --lib decode::diag -- --ignored --nocapture`.
    /// One pass over every frame, for profiling.
    #[test]
    #[ignore]
    fn qrbench_one_pass() {
        let dir = std::env::var("QRBENCH_FRAMES").expect("QRBENCH_FRAMES");
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains("1280x720")).collect();
        names.sort();
        let imgs: Vec<_> = names.iter().map(|n| load_luma(&std::fs::read(n).unwrap()).unwrap()).collect();
        let base = Pass { shrink: 1, upscale: false, threshold: Threshold::Fine, invert: false, locator: Locator::Finder };
        let t = std::time::Instant::now();
        let mut reads = 0;
        for _ in 0..3 {
            for img in &imgs {
                let frame = img.frame();
                let mut images = Images::new(&frame);
                reads += usize::from(!base.run(&mut images).is_empty());
            }
        }
        println!("reads {} ms/frame {:.2}", reads / 3, t.elapsed().as_secs_f64() * 1000.0 / (3 * imgs.len()) as f64);
        let t = std::time::Instant::now();
        for img in &imgs {
            let g = Gray::from_frame(&img.frame(), 1);
            std::hint::black_box(binarize::thresholds::<2>(&g, 3));
        }
        println!("gray + thresholds ms/frame {:.2}", t.elapsed().as_secs_f64() * 1000.0 / imgs.len() as f64);
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
            // The default ladder, then passes left out of it, to see what they would add.
            let mut ladder = ladder(&frame, &DecodeOptions::default());
            let base = Pass { shrink: 1, upscale: false, threshold: Threshold::Fine, invert: false, locator: Locator::Finder };
            ladder.extend([
                Pass { threshold: Threshold::Coarse, ..base },
                Pass { locator: Locator::Rqrr, ..base },
                Pass { invert: true, threshold: Threshold::Coarse, ..base },
            ]);
            let mut images = Images::new(&frame);
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
            let mut r = vec![false; 64];
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
            let new = reads.iter().filter(|r| r[i] && !r[..i].iter().any(|&x| x)).count();
            print!("new {new:3} ");
            let n = reads.iter().filter(|r| r[i]).count();
            let only = reads.iter().filter(|r| r[i] && r.iter().filter(|&&x| x).count() == 1).count();
            println!("{p:?}: reads {n} only {only} wrong {} ms {}", wrong[i], micros[i] / 1000);
        }
        println!("read by any: {} of {}", reads.iter().filter(|r| r.iter().any(|&x| x)).count(), reads.len());
        println!("missed: {missed:?}");
    }

    /// What the first pass saw on each frame (finder evidence) against what the whole
    /// ladder read: the data behind the cheap first look's rule.
    #[test]
    #[ignore]
    fn qrbench_evidence() {
        let dir = std::env::var("QRBENCH_FRAMES").expect("QRBENCH_FRAMES");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
        let mut names: Vec<_> = manifest.as_object().unwrap().keys().cloned().collect();
        names.sort();
        for name in &names {
            let want = manifest[name]["text"].as_str();
            let img = load_luma(&std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
            let frame = img.frame();
            let ladder = ladder(&frame, &DecodeOptions::default());
            let mut images = Images::new(&frame);
            let (first, ev) = ladder[0].run_with_evidence(&mut images);
            let ev = ev.unwrap();
            let (inv, ev_inv) = Pass { invert: true, ..ladder[0] }.run_with_evidence(&mut images);
            let ev_inv = ev_inv.unwrap();
            let mut by = if first.is_empty() { None } else { Some(0) };
            if by.is_none() {
                for (i, p) in ladder.iter().enumerate().skip(1) {
                    if !p.run(&mut images).is_empty() {
                        by = Some(i);
                        break;
                    }
                }
            }
            println!(
                "{name} code={} by={by:?} cand={} conf={} triples={} agree={:.2} | inv cand={} conf={} triples={} agree={:.2} read={} | pairs={} inv_pairs={}",
                want.is_some(), ev.candidates, ev.confirmed, ev.triples, ev.agreement,
                ev_inv.candidates, ev_inv.confirmed, ev_inv.triples, ev_inv.agreement, !inv.is_empty(), ev.pairs, ev_inv.pairs
            );
        }
    }

    /// The default entry (`decode_luma`) on every qrbench frame, as `bench.py` times
    /// the CLI: per frame size, reads, wrong texts, median, p95 and no-code median of
    /// each frame's fastest of `QRBENCH_REPEAT` runs (default 3). `QRBENCH_SLOW=1`
    /// lists every frame with its time, slowest first.
    #[test]
    #[ignore]
    fn qrbench_ladder() {
        let dir = std::env::var("QRBENCH_FRAMES").expect("QRBENCH_FRAMES");
        let repeat: usize = std::env::var("QRBENCH_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
        let mut names: Vec<_> = manifest.as_object().unwrap().keys().cloned().collect();
        names.sort();
        let imgs: Vec<_> = names.iter().map(|n| load_luma(&std::fs::read(format!("{dir}/{n}")).unwrap()).unwrap()).collect();
        let mut best = vec![f64::MAX; names.len()];
        let mut texts = vec![Vec::new(); names.len()];
        for _ in 0..repeat {
            for (i, img) in imgs.iter().enumerate() {
                let t = std::time::Instant::now();
                let found = decode_luma(&img.frame()).unwrap();
                best[i] = best[i].min(t.elapsed().as_secs_f64() * 1000.0);
                texts[i] = found.into_iter().map(|c| c.text).collect::<Vec<_>>();
            }
        }
        let pick = |v: &mut Vec<f64>, p: f64| {
            v.sort_by(f64::total_cmp);
            if v.is_empty() { f64::NAN } else { v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)] }
        };
        let mut sizes: Vec<&str> = names.iter().map(|n| n.split('_').next().unwrap()).collect();
        sizes.dedup();
        sizes.sort();
        sizes.dedup();
        for size in sizes {
            let idx: Vec<usize> = (0..names.len()).filter(|&i| names[i].starts_with(size)).collect();
            let want = |i: usize| manifest[&names[i]]["text"].as_str();
            let coded = idx.iter().filter(|&&i| want(i).is_some()).count();
            let ok = idx.iter().filter(|&&i| want(i).is_some_and(|w| texts[i].iter().any(|t| t == w))).count();
            let wrong: usize = idx.iter().map(|&i| texts[i].iter().filter(|t| Some(t.as_str()) != want(i)).count()).sum();
            let mut all: Vec<f64> = idx.iter().map(|&i| best[i]).collect();
            let mut empty: Vec<f64> = idx.iter().filter(|&&i| want(i).is_none()).map(|&i| best[i]).collect();
            let (median, p95, none) = (pick(&mut all, 0.5), pick(&mut all, 0.95), pick(&mut empty, 0.5));
            println!("{size}: {ok}/{coded} wrong {wrong} median {median:.2} p95 {p95:.2} no-code {none:.2}");
        }
        if std::env::var("QRBENCH_SLOW").is_ok() {
            let mut order: Vec<usize> = (0..names.len()).collect();
            order.sort_by(|&a, &b| best[b].total_cmp(&best[a]));
            for i in order {
                let want = manifest[&names[i]]["text"].as_str();
                let read = want.is_some_and(|w| texts[i].iter().any(|t| t == w));
                println!("{:8.2} {} code={} read={read}", best[i], names[i], want.is_some());
            }
        }
    }

    /// The finder views' work on the qrbench frames (every pass of the ladder on the
    /// whole frame): the most any view spent per pixel of the view, and the views that
    /// ran out of their budget (`finder::Budget`).
    #[test]
    #[ignore]
    fn qrbench_work() {
        let dir = std::env::var("QRBENCH_FRAMES").expect("QRBENCH_FRAMES");
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e != "json")).collect();
        names.sort();
        let (mut most, mut out) = ((0.0f64, String::new()), Vec::new());
        for name in &names {
            let img = load_luma(&std::fs::read(name).unwrap()).unwrap();
            let frame = img.frame();
            let mut images = Images::new(&frame);
            for pass in ladder(&frame, &DecodeOptions::default()) {
                let (_, Some(e)) = pass.run_with_evidence(&mut images) else { continue };
                let (gray, _) = images.view(pass.shrink, pass.upscale, pass.threshold);
                let per_pixel = e.work as f64 / (gray.w * gray.h) as f64;
                if per_pixel > most.0 {
                    most = (per_pixel, format!("{} {pass:?}", name.display()));
                }
                if e.out_of_work {
                    out.push(format!("{} {pass:?}", name.display()));
                }
            }
        }
        println!("most work per pixel {:.3} ({})", most.0, most.1);
        println!("views out of work: {out:?}");
    }

    /// The ladder on one frame, pass by pass (`QRFRAME=path`).
    #[test]
    #[ignore]
    fn qrbench_frame() {
        let img = load_luma(&std::fs::read(std::env::var("QRFRAME").expect("QRFRAME")).unwrap()).unwrap();
        let frame = img.frame();
        let mut images = Images::new(&frame);
        let whole = ladder(&frame, &DecodeOptions::default());
        let look = first_look(&whole, &mut Images::new(&frame), true);
        eprintln!("first look: ran {:?}, go on {}, crops {:?}", look.ran, look.go_on, look.regions);
        for pass in whole {
            let t = std::time::Instant::now();
            let (found, evidence) = pass.run_with_evidence(&mut images);
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let seen = evidence.map(|e| (e.candidates, e.pairs, e.triples));
            eprintln!("{pass:?} -> {} in {ms:.2} ms, (candidates, pairs, triples) {seen:?}", found.len());
        }
    }
}
