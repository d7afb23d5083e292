//! Our own finder-pattern detector and sampler, the engine's main locator.
//!
//! rqrr finds a finder pattern only when its centre and ring are separate regions of
//! the binarised image, measures the size by counting timing-pattern modules, and drops
//! a version 2+ symbol whose alignment pattern its region search misses: blur,
//! perspective and small modules break each of these. This follows zxing's detector
//! instead, on the grey image with edges placed between pixels: 1:1:3:1:1 run ratios
//! along rows, confirmed across the column and again along the row; three patterns of
//! similar module size forming a near-right angle; the size from the distances between
//! them; the alignment pattern searched by template near where the three predict it
//! (the parallelogram estimate when none matches well); then a perspective map, one
//! bilinear grey sample per module, and `rs::correct`, whose format and Reed–Solomon
//! checks decide. Nothing is accepted that does not decode.

use super::Point;
use super::binarize::Thresholds;
use super::gray::Gray;

/// Candidates kept for grouping (the strongest first); bounds the triple search.
const MAX_GROUPING: usize = 48;
/// Candidate finder patterns tracked at most while scanning (noise, textures).
const MAX_CANDIDATES: usize = 128;
/// Share of the finder and timing modules a sampling must reproduce to be decoded.
pub(crate) const MIN_AGREEMENT: f64 = 0.7;
/// Triples that may fail in a row before a view is given up (each code read renews it).
/// Triples are tried squarest first, and a code's own triple comes early: 8 read as
/// many qrbench frames as 16 on both generators, for 9% fewer instructions on
/// generator 2's textured scenes.
const MAX_TRIPLES: usize = 8;
/// A sampling matching less of its fixed patterns than this has the wrong size or
/// position altogether; re-sampling it by its alignment patterns would not save it.
const MIN_REFINE_AGREEMENT: f64 = 0.55;
/// How far, in modules, an alignment pattern is searched from its predicted place.
const ALIGNMENT_REACH: f64 = 3.0;
/// How far the bottom-right alignment pattern is searched from the parallelogram's
/// estimate, first near, then (when not found, on a triple that shows a tilt) wide.
const ALIGNMENT_NEAR: f64 = 5.0;
const ALIGNMENT_WIDE: f64 = 12.0;
/// A triple whose sides are this close to a square's (shorter over longer axis of the
/// parallelogram they span) and whose finders are this close in size shows no tilt that
/// would move the alignment pattern past the near search: cos 21°, and 15%.
const SQUARE_ANISOTROPY: f64 = 0.93;
const SQUARE_MODULE_RATIO: f64 = 1.15;

/// Work a view may spend on its triples, per pixel of the view, in units of one
/// alignment-search position or one sampled module. A periodic texture (a hostile
/// print, or a few bytes cycled over a frame) shows finder-like candidates at every
/// period, hence square-looking triples that all fail, and each failed triple's
/// alignment search covered up to 24 modules square, more than a whole small frame:
/// a 95x95 frame's view could take over 30 units per pixel. With the budget, a
/// frame's worst case is proportional to its pixels. On qrbench's frames (every pass,
/// whole frames, `decode::diag::qrbench_work`) generator 1's views spend at most 1.16
/// a pixel and none runs out; on generator 2 five half-resolution views of 640x480
/// frames run out, with the same reads.
const WORK_PER_PIXEL: usize = 2;

/// What a view may still spend on alignment searches and module sampling.
pub(crate) struct Budget {
    total: usize,
    left: usize,
    exhausted: bool,
}

impl Budget {
    fn for_view(img: &View<'_>) -> Self {
        let total = WORK_PER_PIXEL.saturating_mul(img.gray.w).saturating_mul(img.gray.h);
        Self { total, left: total, exhausted: false }
    }

    fn spent(&self) -> usize {
        self.total - self.left
    }

    /// Takes `cost` units when that many are left; otherwise nothing more is taken
    /// from this view's triples.
    fn take(&mut self, cost: usize) -> bool {
        if self.exhausted || cost > self.left {
            self.exhausted = true;
            return false;
        }
        self.left -= cost;
        true
    }
}

#[derive(Debug, Clone, Copy)]
struct Finder {
    x: f64,
    y: f64,
    module: f64,
    count: u32,
}

/// What the detector looks at: a grey image judged pixel by pixel against its
/// thresholds (one level for the whole frame, or one per block), optionally for
/// light-on-dark codes. No binarised copy is made: edges are placed between pixels
/// where the grey level crosses the threshold, which measures runs and centres to a
/// fraction of a pixel, as codes at under 3 px per module need.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub gray: &'a Gray,
    pub thresholds: &'a Thresholds,
    /// Light-on-dark: pixels above the threshold are the dark modules.
    pub invert: bool,
}

impl View<'_> {
    /// How far a pixel lies on the light side of its threshold: dark when `<= 0`.
    #[inline]
    fn level(&self, x: usize, y: usize) -> i32 {
        let v = i32::from(self.gray.px[y * self.gray.w + x]);
        let t = i32::from(self.thresholds.at_pixel(x, y));
        if self.invert { t + 1 - v } else { v - t }
    }

    fn at(&self, x: isize, y: isize) -> Option<bool> {
        (x >= 0 && y >= 0 && (x as usize) < self.gray.w && (y as usize) < self.gray.h).then(|| self.level(x as usize, y as usize) <= 0)
    }

    /// The module whose centre maps to (x, y): the grey level there is interpolated
    /// between the four nearest pixels and judged by the local threshold. At under 3 px
    /// per module a centre often falls between pixels, and the nearest pixel then
    /// belongs as much to the neighbouring module.
    fn module(&self, x: f64, y: f64) -> bool {
        let (w, h) = (self.gray.w, self.gray.h);
        if !(x >= 0.0 && y >= 0.0 && x < w as f64 && y < h as f64) {
            return false;
        }
        let (fx, fy) = ((x - 0.5).max(0.0), (y - 0.5).max(0.0));
        let (x0, y0) = ((fx as usize).min(w - 1), (fy as usize).min(h - 1));
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (ax, ay) = (fx - x0 as f64, fy - y0 as f64);
        let p = |x: usize, y: usize| f64::from(self.gray.px[y * w + x]);
        let top = p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax;
        let bottom = p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax;
        let v = top * (1.0 - ay) + bottom * ay;
        let t = f64::from(self.thresholds.at_pixel(x as usize, y as usize));
        if self.invert { v > t } else { v <= t }
    }
}

/// Where between two neighbouring pixels (levels `a` then `b`, of opposite sides)
/// the grey crosses the threshold: 0 at the first pixel's centre, 1 at the second's.
#[inline]
fn crossing(a: i32, b: i32) -> f64 {
    // `a <= 0 < b` or `b <= 0 < a`: the denominator is never zero.
    let t = (f64::from(a) - 0.5) / f64::from(a - b);
    t.clamp(0.0, 1.0)
}

/// Run lengths near 1:1:3:1:1 (zxing's tolerance: half a module per run, plus half a
/// pixel for the edges that blur and sampling move).
fn ratio_ok(c: &[f64; 5]) -> bool {
    let total: f64 = c.iter().sum();
    if total < 7.0 {
        return false;
    }
    let m = total / 7.0;
    let v = m / 2.0;
    let d = |n: f64, k: f64| (n - k * m).abs() < k * v + 0.5;
    d(c[0], 1.0) && d(c[1], 1.0) && d(c[2], 3.0) && d(c[3], 1.0) && d(c[4], 1.0)
}

/// The five runs through pixel (cx, cy) along (dx, dy), if that pixel is dark and the
/// runs fit a finder pattern: the middle run's centre as an offset along the line, and
/// the pattern's total length. Each side is walked at most `max` pixels; beyond the
/// frame counts as light.
fn cross(img: &View<'_>, cx: isize, cy: isize, dx: isize, dy: isize, max: f64) -> Option<(f64, f64)> {
    let (w, h) = (img.gray.w as isize, img.gray.h as isize);
    let level = |t: isize| {
        let (x, y) = (cx + t * dx, cy + t * dy);
        (x >= 0 && y >= 0 && x < w && y < h).then(|| img.level(x as usize, y as usize))
    };
    if level(0)? > 0 {
        return None;
    }
    let limit = max.ceil() as isize + 1;
    // Three edges on each side, as offsets from the start pixel.
    let edges = |step: isize| -> Option<[f64; 3]> {
        let mut out = [0.0; 3];
        let (mut t, mut prev) = (0isize, level(0)?);
        for (k, edge) in out.iter_mut().enumerate() {
            loop {
                if t.abs() > limit {
                    return None;
                }
                let Some(next) = level(t + step) else {
                    // Off the frame: light. An inner edge there means no pattern.
                    if k < 2 || prev > 0 {
                        return None;
                    }
                    *edge = t as f64 + 0.5 * step as f64;
                    break;
                };
                t += step;
                if (next <= 0) != (prev <= 0) {
                    *edge = (t - step) as f64 + crossing(prev, next) * step as f64;
                    prev = next;
                    break;
                }
                prev = next;
            }
        }
        Some(out)
    };
    let n = edges(-1)?;
    let p = edges(1)?;
    let c = [n[1] - n[2], n[0] - n[1], p[0] - n[0], p[1] - p[0], p[2] - p[1]];
    if !ratio_ok(&c) {
        return None;
    }
    Some(((n[0] + p[0]) / 2.0, p[2] - n[2]))
}

/// Bit j set when pixel j is at or below its threshold (up to 64 pixels).
#[inline]
fn dark_bits(px: &[u8], th: &[u8]) -> u64 {
    if let (Ok(px), Ok(th)) = (<&[u8; 64]>::try_from(px), <&[u8; 64]>::try_from(th)) {
        // Compare byte against byte (vectorised), then gather each 8 bytes' low bits
        // into one byte with a multiply.
        let mut flags = [0u8; 64];
        for ((f, &p), &t) in flags.iter_mut().zip(px).zip(th) {
            *f = u8::from(p <= t);
        }
        let mut m = 0u64;
        for (k, eight) in flags.chunks_exact(8).enumerate() {
            let x = u64::from_le_bytes(eight.try_into().expect("8 bytes"));
            m |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
        }
        return m;
    }
    px.iter().zip(th).enumerate().fold(0u64, |m, (j, (&p, &t))| m | (u64::from(p <= t) << j))
}

/// A row's 1:1:3:1:1 match: the middle run's centre, the row, the pattern's length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowMatch {
    cx: f64,
    y: usize,
    total: f64,
}

/// Row matches of the opposite polarity kept from one scan at most (24 bytes each);
/// past this the light-on-dark view scans its rows itself.
const MAX_MIRRORED: usize = 1 << 16;

/// Where a view's row matches come from. The light-on-dark view of the same grey
/// and thresholds has the same edges, to the bit (a pixel dark in one is light in
/// the other, and the crossing between two pixels is the same fraction), so its
/// runs are the other view's with the other parity: one scan of the rows can keep
/// them for it (`ScanAndMirror`), and the light-on-dark view then only confirms
/// them (`Matches`) instead of scanning the rows again.
pub(crate) enum Rows<'m> {
    Scan,
    /// Scan, and keep the opposite polarity's matches; `None` when there were more
    /// than [`MAX_MIRRORED`].
    ScanAndMirror(&'m mut Option<Vec<RowMatch>>),
    Matches(&'m [RowMatch]),
}

fn find_candidates(img: &View<'_>, row_step: usize, rows: Rows<'_>) -> Vec<Finder> {
    let mut found: Vec<Finder> = Vec::new();
    match rows {
        Rows::Matches(matches) => {
            for m in matches {
                confirm(img, m, &mut found);
            }
        }
        Rows::Scan => scan_rows(img, row_step, |m| confirm(img, &m, &mut found), None),
        Rows::ScanAndMirror(mirror) => {
            let mut kept = Some(Vec::new());
            scan_rows(img, row_step, |m| confirm(img, &m, &mut found), Some(&mut kept));
            *mirror = kept;
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.count));
    if found.iter().filter(|f| f.count >= 2).count() >= 3 {
        found.retain(|f| f.count >= 2);
    }
    found.truncate(MAX_GROUPING);
    found
}

/// Every `row_step`th row's 1:1:3:1:1 runs, in row order and along each row: those
/// with a dark centre to `on_match`, those with a light one (the light-on-dark
/// view's) to `mirror` when given.
fn scan_rows(img: &View<'_>, row_step: usize, mut on_match: impl FnMut(RowMatch), mut mirror: Option<&mut Option<Vec<RowMatch>>>) {
    let (w, h) = (img.gray.w, img.gray.h);
    // Edge positions along the row (pixel-centre coordinates) and whether the run
    // after each edge is dark; the row's ends count as edges.
    let mut edges: Vec<f64> = Vec::new();
    let mut thresholds: Vec<u8> = vec![0; w];
    let mut threshold_row = usize::MAX;
    for y in (0..h).step_by(row_step.max(1)) {
        let block_row = img.thresholds.block_row(y);
        if block_row != threshold_row {
            threshold_row = block_row;
            img.thresholds.fill_row(block_row, &mut thresholds);
        }
        let row = &img.gray.px[y * w..(y + 1) * w];
        let level = |x: usize| {
            let d = i32::from(row[x]) - i32::from(thresholds[x]);
            if img.invert { 1 - d } else { d }
        };
        edges.clear();
        edges.push(-0.5);
        let first_dark = level(0) <= 0;
        // Dark pixels as bits, 64 to a word; a word's changes from pixel to pixel are
        // found with shifts and visited with trailing_zeros, so flat stretches (most of
        // a frame) cost a few instructions per 64 pixels.
        let mut carry = u64::from(first_dark);
        for (i, (px, th)) in row.chunks(64).zip(thresholds.chunks(64)).enumerate() {
            let n = px.len();
            let mut dark = dark_bits(px, th);
            if img.invert {
                dark = !dark & (u64::MAX >> (64 - n));
            }
            let mut changes = (dark ^ ((dark << 1) | carry)) & (u64::MAX >> (64 - n));
            carry = dark >> (n - 1);
            while changes != 0 {
                let x = i * 64 + changes.trailing_zeros() as usize;
                edges.push((x - 1) as f64 + crossing(level(x - 1), level(x)));
                changes &= changes - 1;
            }
        }
        edges.push(w as f64 - 0.5);
        // Run i lies between edges i and i+1; it is dark when i is even and the row
        // starts dark, or odd and it starts light.
        let runs = edges.len() - 1;
        let row_match = |i: usize| {
            let c = [
                edges[i + 1] - edges[i],
                edges[i + 2] - edges[i + 1],
                edges[i + 3] - edges[i + 2],
                edges[i + 4] - edges[i + 3],
                edges[i + 5] - edges[i + 4],
            ];
            ratio_ok(&c).then(|| RowMatch { cx: (edges[i + 2] + edges[i + 3]) / 2.0, y, total: c.iter().sum() })
        };
        let start = usize::from(!first_dark);
        for i in (start..runs.saturating_sub(4)).step_by(2) {
            if let Some(m) = row_match(i) {
                on_match(m);
            }
        }
        if let Some(kept) = mirror.as_deref_mut() {
            for i in (1 - start..runs.saturating_sub(4)).step_by(2) {
                let Some(m) = row_match(i) else { continue };
                match kept {
                    Some(v) if v.len() < MAX_MIRRORED => v.push(m),
                    _ => *kept = None,
                }
            }
        }
    }
}

/// A row match confirmed down the column and again along the row joins the
/// candidate it lies on, or becomes one.
fn confirm(img: &View<'_>, m: &RowMatch, found: &mut Vec<Finder>) {
    let (w, h) = (img.gray.w, img.gray.h);
    let RowMatch { cx, y, total } = *m;
    let px = (cx + 0.5).floor().clamp(0.0, (w - 1) as f64) as isize;
    let Some((oy, vt)) = cross(img, px, y as isize, 0, 1, total) else { return };
    if 5.0 * (vt - total).abs() >= 2.0 * total {
        return;
    }
    let cy = y as f64 + oy;
    let py = (cy + 0.5).floor().clamp(0.0, (h - 1) as f64) as isize;
    let Some((ox, ht)) = cross(img, px, py, 1, 0, total) else { return };
    let cx = px as f64 + ox;
    let module = (ht + vt) / 14.0;
    if let Some(f) = found.iter_mut().find(|f| {
        // Squared distances: every row match is compared with every candidate, and
        // on textured scenes libm's hypot here was a tenth of the frame's work.
        let r = module.max(f.module) * 1.5;
        (f.x - cx).powi(2) + (f.y - cy).powi(2) <= r * r && (f.module / module - 1.0).abs() < 0.5
    }) {
        let n = f64::from(f.count);
        f.x = (f.x * n + cx) / (n + 1.0);
        f.y = (f.y * n + cy) / (n + 1.0);
        f.module = (f.module * n + module) / (n + 1.0);
        f.count += 1;
    } else {
        if found.len() >= MAX_CANDIDATES {
            // Textures make many one-row matches. One that the scan has left
            // behind (its centre rows above) will never be confirmed by
            // another row: make room by dropping those, so that the
            // patterns further down the frame are still seen.
            found.retain(|f| f.count > 1 || f.y + 2.0 * f.module >= y as f64);
        }
        if found.len() < MAX_CANDIDATES {
            found.push(Finder { x: cx, y: cy, module, count: 1 });
        }
    }
}

type M3 = [[f64; 3]; 3];

fn square_to_quad(q: [(f64, f64); 4]) -> M3 {
    let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = q;
    let (dx3, dy3) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
    let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
    let den = dx1 * dy2 - dx2 * dy1;
    let (a13, a23) = if den.abs() < 1e-12 { (0.0, 0.0) } else { ((dx3 * dy2 - dx2 * dy3) / den, (dx1 * dy3 - dx3 * dy1) / den) };
    [[x1 - x0 + a13 * x1, x3 - x0 + a23 * x3, x0], [y1 - y0 + a13 * y1, y3 - y0 + a23 * y3, y0], [a13, a23, 1.0]]
}

fn adjugate(m: &M3) -> M3 {
    let c = |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    [
        [c(1, 1, 2, 2), -c(0, 1, 2, 2), c(0, 1, 1, 2)],
        [-c(1, 0, 2, 2), c(0, 0, 2, 2), -c(0, 0, 1, 2)],
        [c(1, 0, 2, 1), -c(0, 0, 2, 1), c(0, 0, 1, 1)],
    ]
}

fn mul(a: &M3, b: &M3) -> M3 {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// The perspective map taking `src` (module coordinates) onto `dst` (pixels).
fn quad_to_quad(src: [(f64, f64); 4], dst: [(f64, f64); 4]) -> Option<M3> {
    let m = mul(&square_to_quad(dst), &adjugate(&square_to_quad(src)));
    m.iter().flatten().all(|v| v.is_finite()).then_some(m)
}

fn apply(m: &M3, u: f64, v: f64) -> (f64, f64) {
    let d = m[2][0] * u + m[2][1] * v + m[2][2];
    ((m[0][0] * u + m[0][1] * v + m[0][2]) / d, (m[1][0] * u + m[1][1] * v + m[1][2]) / d)
}

/// Best match of the 5x5-module alignment pattern near `est`, in module steps `ux`, `uy`:
/// positions on a grid of a third of a module, within `reach` modules of the estimate.
fn find_alignment(
    img: &View<'_>,
    est: (f64, f64),
    (ux, uy): ((f64, f64), (f64, f64)),
    (module, reach): (f64, f64),
    budget: &mut Budget,
) -> Option<(f64, f64)> {
    let r = (module * reach).ceil();
    let step = ((module / 3.0).floor() as usize).max(1);
    let mut template = [(0isize, 0isize, false); 25];
    for (k, t) in template.iter_mut().enumerate() {
        let (i, j) = (k as i32 % 5 - 2, k as i32 / 5 - 2);
        let dx = f64::from(i) * ux.0 + f64::from(j) * uy.0;
        let dy = f64::from(i) * ux.1 + f64::from(j) * uy.1;
        *t = (dx.round() as isize, dy.round() as isize, i.abs().max(j.abs()) != 1);
    }
    // A pattern wider than the view cannot lie in it (and a map gone wild near its
    // horizon gives offsets that would overflow the arithmetic below).
    let span = img.gray.w + img.gray.h;
    if template.iter().any(|t| t.0.unsigned_abs() > span || t.1.unsigned_abs() > span) {
        return None;
    }
    // The grid of positions within `r` of the estimate, clipped to those where the
    // template touches the view: one wholly outside scores nothing (so the result is
    // the same), and the search costs at most the view's pixels.
    let axis = |e: f64, reach: (isize, isize), len: usize| -> Option<(isize, usize)> {
        let (start, s) = (e.floor() - r, step as f64);
        let first = ((-reach.1) as f64 - start) / s;
        let last = ((len as isize - 1 - reach.0) as f64 - start) / s;
        let (k0, k1) = (first.ceil().max(0.0), last.floor().min((2.0 * r / s).floor()));
        // At most every position over the view (float rounding aside).
        let most = (len as isize - 1 - reach.0 + reach.1) as usize / step + 1;
        (k1 >= k0).then(|| ((start + k0 * s) as isize, ((k1 - k0) as usize + 1).min(most)))
    };
    let extent = |f: fn(&(isize, isize, bool)) -> isize| {
        template.iter().map(f).fold((isize::MAX, isize::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)))
    };
    let (x0, nx) = axis(est.0, extent(|t| t.0), img.gray.w)?;
    let (y0, ny) = axis(est.1, extent(|t| t.1), img.gray.h)?;
    if !budget.take(nx.saturating_mul(ny)) {
        return None;
    }
    let (mut best, mut sum, mut n) = (0usize, (0.0, 0.0), 0.0);
    for y in (0..ny).map(|k| y0 + (k * step) as isize) {
        for x in (0..nx).map(|k| x0 + (k * step) as isize) {
            // Stop counting once this position cannot reach the best (or the
            // acceptance bar): most positions fail within a few modules.
            let allowed = 25 - best.max(20);
            let mut misses = 0;
            for &(dx, dy, want) in &template {
                if img.at(x + dx, y + dy) != Some(want) {
                    misses += 1;
                    if misses > allowed {
                        break;
                    }
                }
            }
            if misses > allowed {
                continue;
            }
            let score = 25 - misses;
            if score > best {
                (best, sum, n) = (score, (x as f64, y as f64), 1.0);
            } else if score == best {
                (sum, n) = ((sum.0 + x as f64, sum.1 + y as f64), n + 1.0);
            }
        }
    }
    (best >= 20).then(|| (sum.0 / n + 0.5, sum.1 / n + 0.5))
}

/// What a view showed of finder patterns, read or not: whether a code is plausibly
/// there, so that the dearer passes run only on frames that look like holding one.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Evidence {
    /// Finder-pattern candidates (1:1:3:1:1 along a row, confirmed down the column).
    pub candidates: usize,
    /// Of those, the ones at least two scanned rows matched.
    pub confirmed: usize,
    /// Pairs of candidates that could be two finder patterns of one symbol: sizes
    /// that fit together, at a distance a side or the diagonal of a symbol spans, and
    /// a symbol through them that fits in the view.
    pub pairs: usize,
    /// Where the symbol of each plausible pair would lie, over the placements that fit
    /// in the view, with a margin for the threshold windows: `[x0, y0, x1, y1]` in
    /// view pixels, unclipped; and the pair's larger module size, in view pixels.
    pub regions: Vec<([f64; 4], f64)>,
    /// Triples of candidates at a near-right angle with sizes that fit together.
    pub triples: usize,
    /// The best share of finder and timing modules any sampling reproduced.
    pub agreement: f64,
    /// Units of the view's work budget spent on triples, and whether it ran out.
    pub work: usize,
    pub out_of_work: bool,
}

/// A sampled symbol ready for correction, with its corners in image pixels.
pub(crate) struct Candidate {
    pub grid: rqrr::SimpleGrid,
    pub corners: [Point; 4],
}

/// Candidate symbols in the view, most plausible first. `read` is called on
/// each; a triple whose symbol `read` accepts is not tried again in other groupings.
/// Rows are scanned every `row_step` (see `FINDER_ROW_STEP`).
pub(crate) fn detect(view: View<'_>, row_step: usize, rows: Rows<'_>, mut read: impl FnMut(&Candidate) -> bool) -> Evidence {
    let img = view;
    let finders = find_candidates(&img, row_step, rows);
    let regions = plausible_pairs(&finders, (img.gray.w, img.gray.h));
    let mut evidence = Evidence {
        candidates: finders.len(),
        confirmed: finders.iter().filter(|f| f.count >= 2).count(),
        pairs: regions.len(),
        regions,
        ..Evidence::default()
    };
    if finders.len() < 3 {
        return evidence;
    }
    // (score, tl, tr, bl)
    let mut triples: Vec<(f64, usize, usize, usize)> = Vec::new();
    let n = finders.len();
    // Every pair's distance once, not six times per triple (48 candidates make 17,296
    // triples: the distances had cost more than everything else on a periodic frame).
    let dist: Vec<f64> = (0..n * n).map(|k| ((finders[k / n].x - finders[k % n].x).powi(2) + (finders[k / n].y - finders[k % n].y).powi(2)).sqrt()).collect();
    for a in 0..n {
        for b in a + 1..n {
            // A pair whose sizes already differ too much rules out every third finder.
            let (ma, mb) = (finders[a].module, finders[b].module);
            if ma.max(mb) / ma.min(mb) > 1.6 {
                continue;
            }
            for c in b + 1..n {
                let ms = [a, b, c].map(|i| finders[i].module);
                let (lo, hi) = ms.iter().fold((f64::MAX, 0f64), |(l, h), &m| (l.min(m), h.max(m)));
                if hi / lo > 1.6 {
                    continue;
                }
                // The corner opposite the longest side is the top-left.
                let d = |i: usize, j: usize| dist[i * n + j];
                let sides = [(d(b, c), a, b, c), (d(a, c), b, a, c), (d(a, b), c, a, b)];
                let Some(&(_, tl, p1, p2)) = sides.iter().max_by(|x, y| x.0.total_cmp(&y.0)) else { continue };
                let (l1, l2) = (d(tl, p1), d(tl, p2));
                let (v1, v2) = (
                    (finders[p1].x - finders[tl].x, finders[p1].y - finders[tl].y),
                    (finders[p2].x - finders[tl].x, finders[p2].y - finders[tl].y),
                );
                let cos = (v1.0 * v2.0 + v1.1 * v2.1) / (l1 * l2);
                let ratio = l1.max(l2) / l1.min(l2);
                let module = (ms[0] + ms[1] + ms[2]) / 3.0;
                if cos.abs() > 0.5 || ratio > 2.0 || l1.min(l2) < 12.0 * module || l1.max(l2) > 180.0 * module {
                    continue;
                }
                let (tr, bl) = if v1.0 * v2.1 - v1.1 * v2.0 > 0.0 { (p1, p2) } else { (p2, p1) };
                triples.push((cos.abs() + (ratio - 1.0) + (hi / lo - 1.0), tl, tr, bl));
            }
        }
    }
    triples.sort_by(|x, y| x.0.total_cmp(&y.0));
    evidence.triples = triples.len();
    let mut used: Vec<usize> = Vec::new();
    // A sheet of codes offers three finders per code and many more triples that
    // look just as square across codes: the budget is for failures, and each code
    // read renews it, so that every code on the sheet is reached. A scene of tiles
    // or text offers as many triples and reads none: its cost stays bounded.
    let mut failures = MAX_TRIPLES;
    let mut budget = Budget::for_view(&img);
    for &(_, tl, tr, bl) in &triples {
        if [tl, tr, bl].iter().any(|i| used.contains(i)) {
            continue;
        }
        if try_triple(&img, [&finders[tl], &finders[tr], &finders[bl]], &mut read, &mut evidence.agreement, &mut budget) {
            used.extend([tl, tr, bl]);
            failures = MAX_TRIPLES;
        } else {
            failures -= 1;
            if failures == 0 || budget.exhausted {
                break;
            }
        }
    }
    (evidence.work, evidence.out_of_work) = (budget.spent(), budget.exhausted);
    evidence
}

/// Pairs of finders that could belong to one symbol: module sizes within the triple
/// search's tolerance, centres 12 modules (version 1's side less a little) to 255
/// (version 40's diagonal) apart, and a symbol through them that fits in the view.
/// Two finders are a side of their symbol (which then lies on one side of them or
/// the other) or its diagonal: three placements. For each pair, the bounding box of
/// its placements that fit, with a margin for the threshold windows, in view pixels.
fn plausible_pairs(finders: &[Finder], (w, h): (usize, usize)) -> Vec<([f64; 4], f64)> {
    let mut regions = Vec::new();
    for (i, a) in finders.iter().enumerate() {
        for b in &finders[i + 1..] {
            let (lo, hi) = (a.module.min(b.module), a.module.max(b.module));
            let dist = (a.x - b.x).hypot(a.y - b.y);
            let module = (a.module + b.module) / 2.0;
            if hi / lo > 1.6 || !(12.0..=255.0).contains(&(dist / module)) {
                continue;
            }
            // Along the pair (u) and across it (n), a unit each.
            let u = ((b.x - a.x) / dist, (b.y - a.y) / dist);
            let n = (-u.1, u.0);
            let (mx, my) = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
            // Each placement as its centre, half-extents along u and n (finder
            // centres lie 3.5 modules inside the symbol's edge), and whether it
            // is a diagonal placement (its square turned 45 degrees to the pair).
            let edge = 3.5 * hi;
            let placements = [
                (mx + n.0 * dist / 2.0, my + n.1 * dist / 2.0, false),
                (mx - n.0 * dist / 2.0, my - n.1 * dist / 2.0, false),
                (mx, my, true),
            ];
            // Perspective and the module size measured on two finders only: a
            // symbol may reach a little past where a flat one would.
            let slack = 0.1 * dist + 2.0 * hi;
            let mut bounds: Option<[f64; 4]> = None;
            for (cx, cy, diagonal) in placements {
                let corners: [(f64, f64); 4] = if diagonal {
                    let r = dist / 2.0 + edge * std::f64::consts::SQRT_2;
                    [(u.0, u.1), (-u.0, -u.1), (n.0, n.1), (-n.0, -n.1)].map(|(dx, dy)| (cx + dx * r, cy + dy * r))
                } else {
                    let r = dist / 2.0 + edge;
                    [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
                        .map(|(su, sn)| (cx + (su * u.0 + sn * n.0) * r, cy + (su * u.1 + sn * n.1) * r))
                };
                let fits = corners.iter().all(|&(x, y)| {
                    x >= -slack && y >= -slack && x <= w as f64 + slack && y <= h as f64 + slack
                });
                if !fits {
                    continue;
                }
                let b = bounds.get_or_insert([f64::MAX, f64::MAX, f64::MIN, f64::MIN]);
                for (x, y) in corners {
                    *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
                }
            }
            if let Some(b) = bounds {
                // Quiet zone and the coarse threshold's window around the symbol.
                let margin = slack + 8.0 * hi;
                regions.push(([b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin], hi));
            }
        }
    }
    regions
}

fn try_triple(
    img: &View<'_>,
    [tl, tr, bl]: [&Finder; 3],
    read: &mut impl FnMut(&Candidate) -> bool,
    best_agreement: &mut f64,
    budget: &mut Budget,
) -> bool {
    let (dt, db) = ((tr.x - tl.x).hypot(tr.y - tl.y), (bl.x - tl.x).hypot(bl.y - tl.y));
    // The finders' sizes were measured along rows and columns; a symbol turned by θ
    // shows them 1/cos θ longer there (θ folded into ±45°). The symbol's axes give θ.
    let (ax, ay) = (((tr.x - tl.x) / dt).abs(), ((tr.y - tl.y) / dt).abs());
    let (bx, by) = (((bl.x - tl.x) / db).abs(), ((bl.y - tl.y) / db).abs());
    let slant = (ax.max(ay) + bx.max(by)) / 2.0;
    let module = (tl.module + tr.module + bl.module) / 3.0 * slant;
    // Under perspective the module size changes along each edge: measure each edge
    // with the modules at its two ends.
    let est = ((2.0 * dt / ((tl.module + tr.module) * slant)).round() + (2.0 * db / ((tl.module + bl.module) * slant)).round()) / 2.0 + 7.0;
    // Nearest size 17 + 4v, then its neighbours.
    let v = ((est - 17.0) / 4.0).round().clamp(1.0, 40.0) as i32;
    let br = (tr.x + bl.x - tl.x, tr.y + bl.y - tl.y);
    // The bottom-right alignment pattern, searched once for the three versions tried:
    // their estimates lie within about a module of each other, well inside the near
    // search. Under strong perspective (a sheet tilted 35 degrees and more) it lies
    // further away than that; the wide search finds it, but costs five times the near
    // one, and most triples that fail are textures or lone finder-like marks: it runs
    // only on a triple whose shape or finder sizes show a tilt.
    let mut alignment: Option<Option<(f64, f64)>> = None;
    let mut find_br_alignment = |budget: &mut Budget| {
        *alignment.get_or_insert_with(|| {
            let span = f64::from(10 + 4 * v.max(2));
            let ux = ((tr.x - tl.x) / span, (tr.y - tl.y) / span);
            let uy = ((bl.x - tl.x) / span, (bl.y - tl.y) / span);
            let k = 1.0 - 3.0 / span;
            let est = (tl.x + k * (br.0 - tl.x), tl.y + k * (br.1 - tl.y));
            find_alignment(img, est, (ux, uy), (module, ALIGNMENT_NEAR), budget)
                .or_else(|| if shows_tilt(tl, tr, bl) { find_alignment(img, est, (ux, uy), (module, ALIGNMENT_WIDE), budget) } else { None })
        })
    };
    // (agreement, map, version) of the best sampling that did not read.
    let mut best: Option<(f64, M3, usize)> = None;
    for v in [v, v - 1, v + 1] {
        if !(1..=40).contains(&v) {
            continue;
        }
        let dim = f64::from(17 + 4 * v);
        let mut fourth = vec![((dim - 3.5, dim - 3.5), br)];
        if v >= 2
            && let Some(a) = find_br_alignment(budget)
        {
            fourth.insert(0, ((dim - 6.5, dim - 6.5), a));
        }
        for (src4, dst4) in fourth {
            let src = [(3.5, 3.5), (dim - 3.5, 3.5), src4, (3.5, dim - 3.5)];
            let dst = [(tl.x, tl.y), (tr.x, tr.y), dst4, (bl.x, bl.y)];
            let Some(m) = quad_to_quad(src, dst) else { continue };
            let size = dim as usize;
            if !budget.take(fixed_pattern_modules(size)) {
                return false;
            }
            // Most samplings tried are wrong: their fixed patterns (a few hundred
            // modules) show it before the whole symbol is sampled and decoded.
            let agreement = sampled_agreement(img, size, |x, y| apply(&m, x, y));
            *best_agreement = best_agreement.max(agreement);
            if best.as_ref().is_none_or(|b| agreement > b.0) {
                best = Some((agreement, m, v as usize));
            }
            if agreement >= MIN_AGREEMENT {
                if !budget.take(size * size) {
                    return false;
                }
                let grid = sample(img, size, |x, y| apply(&m, x, y));
                if read(&Candidate { grid, corners: symbol_corners(&m, dim) }) {
                    return true;
                }
            }
        }
    }
    // Versions 7 and up carry a lattice of alignment patterns. One map from four
    // points drifts by modules across a large symbol under perspective or a bent page;
    // pinned to every alignment pattern found, each cell gets its own map. Tried once,
    // on the sampling whose fixed patterns matched best.
    if let Some((agreement, m, v)) = best
        && v >= 7
        && agreement >= MIN_REFINE_AGREEMENT
        && let Some(grid) = sample_by_alignment(img, &m, v, budget)
    {
        if read(&Candidate { grid, corners: symbol_corners(&m, (17 + 4 * v) as f64) }) {
            return true;
        }
    }
    false
}

/// Whether three finders look like a tilted symbol: the parallelogram their centres
/// span is not near a square (an untilted symbol's is a square, whatever its turn), or
/// their sizes differ as the depth of a tilted sheet makes them.
fn shows_tilt(tl: &Finder, tr: &Finder, bl: &Finder) -> bool {
    let (a, b) = ((tr.x - tl.x, tr.y - tl.y), (bl.x - tl.x, bl.y - tl.y));
    // The parallelogram's axes s1 >= s2: s1² + s2² and s1·s2 from its sides.
    let (sum, det) = (a.0 * a.0 + a.1 * a.1 + b.0 * b.0 + b.1 * b.1, (a.0 * b.1 - a.1 * b.0).abs());
    let q = sum / det.max(f64::MIN_POSITIVE);
    let anisotropy = (q - (q * q - 4.0).max(0.0).sqrt()) / 2.0;
    let (lo, hi) = [tl, tr, bl].iter().fold((f64::MAX, 0f64), |(l, h), f| (l.min(f.module), h.max(f.module)));
    anisotropy < SQUARE_ANISOTROPY || hi / lo > SQUARE_MODULE_RATIO
}

fn sample(img: &View<'_>, size: usize, map: impl Fn(f64, f64) -> (f64, f64)) -> rqrr::SimpleGrid {
    rqrr::SimpleGrid::from_func(size, |x, y| {
        let (px, py) = map(x as f64 + 0.5, y as f64 + 0.5);
        img.module(px, py)
    })
}

fn symbol_corners(m: &M3, dim: f64) -> [Point; 4] {
    [(0.0, 0.0), (dim, 0.0), (dim, dim), (0.0, dim)].map(|(u, v)| {
        let (x, y) = apply(m, u, v);
        Point { x: x as f32, y: y as f32 }
    })
}

/// Centres of the alignment-pattern rows and columns of a version, in module
/// coordinates (ISO/IEC 18004 Annex E; the first is the timing pattern's 6).
fn alignment_centres(version: usize) -> Vec<f64> {
    if version < 2 {
        return Vec::new();
    }
    let n = version / 7 + 2;
    let last = 4 * version + 10;
    let step = if version == 32 { 26 } else { (version * 4 + n * 2 + 1) / (n * 2 - 2) * 2 };
    let mut p: Vec<f64> = (0..n - 1).map(|i| (last - i * step) as f64 + 0.5).collect();
    p.push(6.5);
    p.reverse();
    p
}

/// Samples a version 7+ symbol cell by cell between its alignment patterns. Each
/// pattern is searched near where `m` puts it, corrected by the drift its already
/// found neighbours showed (so the search follows a perspective that `m` misjudges);
/// a pattern not found stays where `m` and that drift put it.
fn sample_by_alignment(img: &View<'_>, m: &M3, version: usize, budget: &mut Budget) -> Option<rqrr::SimpleGrid> {
    let c = alignment_centres(version);
    let k = c.len();
    let mut pts = vec![(0.0, 0.0); k * k];
    let mut drift: Vec<Option<(f64, f64)>> = vec![None; k * k];
    for j in 0..k {
        for i in 0..k {
            let base = apply(m, c[i], c[j]);
            let near: Vec<(f64, f64)> = [(i.wrapping_sub(1), j), (i, j.wrapping_sub(1)), (i.wrapping_sub(1), j.wrapping_sub(1)), (i + 1, j.wrapping_sub(1))]
                .iter()
                .filter(|&&(a, b)| a < k && b < k)
                .filter_map(|&(a, b)| drift[b * k + a])
                .collect();
            let n = near.len().max(1) as f64;
            let (dx, dy) = near.iter().fold((0.0, 0.0), |(x, y), d| (x + d.0 / n, y + d.1 / n));
            let est = (base.0 + dx, base.1 + dy);
            pts[j * k + i] = est;
            // The three corners under the finder patterns hold no alignment pattern.
            if (i == 0 || j == 0) && (i + j == 0 || i + j == k - 1) {
                continue;
            }
            let (px, py) = apply(m, c[i] + 1.0, c[j]);
            let (qx, qy) = apply(m, c[i], c[j] + 1.0);
            let (ux, uy) = ((px - base.0, py - base.1), (qx - base.0, qy - base.1));
            let module = (ux.0.hypot(ux.1) + uy.0.hypot(uy.1)) / 2.0;
            if let Some(found) = find_alignment(img, est, (ux, uy), (module, ALIGNMENT_REACH), budget) {
                pts[j * k + i] = found;
                drift[j * k + i] = Some((found.0 - base.0, found.1 - base.1));
            }
        }
    }
    let mut maps = Vec::with_capacity((k - 1) * (k - 1));
    for cj in 0..k - 1 {
        for ci in 0..k - 1 {
            let src = [(c[ci], c[cj]), (c[ci + 1], c[cj]), (c[ci + 1], c[cj + 1]), (c[ci], c[cj + 1])];
            let dst = [pts[cj * k + ci], pts[cj * k + ci + 1], pts[(cj + 1) * k + ci + 1], pts[(cj + 1) * k + ci]];
            maps.push(quad_to_quad(src, dst)?);
        }
    }
    // Modules outside the outer patterns belong to the outer cells.
    let cell = |u: f64| c[1..k - 1].iter().take_while(|&&p| p <= u).count();
    let size = 17 + 4 * version;
    let map = |x: f64, y: f64| apply(&maps[cell(y) * (k - 1) + cell(x)], x, y);
    // Most refinements tried are of texture whose finder-like marks matched: their
    // timing patterns show it before the whole symbol is sampled.
    if !budget.take(fixed_pattern_modules(size)) {
        return None;
    }
    if sampled_agreement(img, size, map) < MIN_AGREEMENT || !budget.take(size * size) {
        return None;
    }
    Some(sample(img, size, map))
}

/// `fixed_pattern_agreement` of the modules `map` places in the view.
fn sampled_agreement(img: &View<'_>, size: usize, map: impl Fn(f64, f64) -> (f64, f64)) -> f64 {
    fixed_pattern_agreement(size, |y, x| {
        let (px, py) = map(x as f64 + 0.5, y as f64 + 0.5);
        img.module(px, py)
    })
}

/// Modules `fixed_pattern_agreement` samples.
fn fixed_pattern_modules(size: usize) -> usize {
    3 * 49 + 2 * size.saturating_sub(16)
}

/// Share of the three finder patterns and the two timing patterns that the sampled
/// grid reproduces.
fn fixed_pattern_agreement(size: usize, bit: impl Fn(usize, usize) -> bool) -> f64 {
    let (mut ok, mut n) = (0usize, 0usize);
    let finder = |x: usize, y: usize| {
        let d = x.abs_diff(3).max(y.abs_diff(3));
        d != 2 && d != 4
    };
    for y in 0..7 {
        for x in 0..7 {
            let want = finder(x, y);
            for (gx, gy) in [(x, y), (size - 7 + x, y), (x, size - 7 + y)] {
                ok += usize::from(bit(gy, gx) == want);
                n += 1;
            }
        }
    }
    for i in 8..size - 8 {
        let want = i % 2 == 0;
        ok += usize::from(bit(6, i) == want) + usize::from(bit(i, 6) == want);
        n += 2;
    }
    ok as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LumaFrame;
    use crate::binarize;

    /// What the detector's first view (full resolution, fine threshold) does with a
    /// frame that reads nothing.
    fn evidence(data: &[u8], width: usize, height: usize, stride: usize) -> Evidence {
        let frame = LumaFrame { data, width: width as u32, height: height as u32, stride: stride as u32 };
        let gray = Gray::from_frame(&frame, 1);
        let thresholds = binarize::thresholds::<2>(&gray, 3).unwrap_or_else(|| binarize::global_thresholds(&gray));
        detect(View { gray: &gray, thresholds: &thresholds, invert: false }, 2, Rows::Scan, |_| false)
    }

    /// A periodic frame, as a hostile print or a fuzzer's few bytes cycled over a frame
    /// make: finder-like marks at every period, thousands of square-looking triples,
    /// none a code. Each view spends at most its budget, in proportion to its pixels;
    /// before the budget, the 95x95 frame's view tried 16 failed triples (then the cap)
    /// at up to four alignment searches of 145x145 positions each (more than 30 per
    /// pixel).
    #[test]
    fn a_periodic_frame_spends_no_more_than_its_work_budget() {
        // Finder-like marks (dark, light ring, dark centre) one every `period` px.
        let wallpaper = |w: usize, h: usize, period: usize| -> Vec<u8> {
            (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) % period, (i / w) % period);
                    let ring = x.min(y).min(period - 1 - x).min(period - 1 - y);
                    let light = ring == 1 || x == period - 1 || y == period - 1;
                    if light { 255 } else { 0 }
                })
                .collect()
        };
        let mut ran_out = Vec::new();
        for (w, h, period) in [(48, 48, 9), (48, 48, 10), (95, 95, 9), (95, 95, 10), (190, 190, 9), (190, 190, 10)] {
            let e = evidence(&wallpaper(w, h, period), w, h, w);
            assert!(e.triples > MAX_TRIPLES, "{w}x{h}/{period}: {} triples", e.triples);
            assert!(e.work <= WORK_PER_PIXEL * w * h, "{w}x{h}/{period}: {} units of work", e.work);
            if e.out_of_work {
                ran_out.push((w, period));
            }
        }
        // The smallest frames are stopped by the budget, not by the failed-triple
        // count (larger ones reach the count first: 8 failures in a row).
        assert!(ran_out.contains(&(48, 9)) && ran_out.contains(&(48, 10)), "{ran_out:?}");
    }
}
