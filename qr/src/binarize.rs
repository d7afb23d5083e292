//! Where grey turns into black and white, the step that decides most scans.
//!
//! `thresholds` follows zxing's hybrid binariser, at any power-of-two block size and
//! window: the threshold of each block is the mean level of the blocks around it, so a
//! gradient of light or a glare patch moves the threshold with it. Blocks with almost
//! no contrast take their neighbours' level (or count as background) instead of
//! amplifying sensor noise into speckle, which would both hide finder patterns and
//! flood rqrr's region search with tiny blobs. `global_thresholds` is Otsu's level over
//! the whole frame: better for large modules where a window can lie wholly inside one
//! dark module. The detector reads the thresholds directly; `apply` makes a
//! black-and-white copy only for rqrr's locator.

use super::gray::Gray;
use super::scratch;

/// Contrast below which a block is treated as flat (zxing's MIN_DYNAMIC_RANGE).
const MIN_RANGE: u32 = 24;

/// Black-and-white image: `true` is dark.
pub(crate) type Bits = Vec<bool>;

/// The local threshold of every 8x8 block: a pixel at or below its block's level is dark.
/// The sampler reads it too, to judge bilinear grey samples between pixels.
#[derive(Debug, Clone)]
pub(crate) struct Thresholds {
    /// log2 of the block side in pixels (blocks are powers of two so that finding a
    /// pixel's block is a shift: the detector asks for every pixel).
    pub shift: u32,
    /// Blocks across and down.
    pub bw: usize,
    pub bh: usize,
    pub level: Vec<u8>,
}

/// The map goes back to the thread's buffers for the next view or frame.
impl Drop for Thresholds {
    fn drop(&mut self) {
        scratch::give(std::mem::take(&mut self.level));
    }
}

impl Thresholds {
    /// One level for the whole image.
    pub fn uniform(level: u8) -> Self {
        Self { shift: usize::BITS - 1, bw: 1, bh: 1, level: vec![level] }
    }

    /// The row of blocks holding pixel row `y`.
    #[inline]
    pub fn block_row(&self, y: usize) -> usize {
        (y >> self.shift).min(self.bh - 1)
    }

    /// Each pixel's threshold along the pixel rows of `block_row`, so that pixels and
    /// thresholds compare byte against byte (vectorised).
    pub fn fill_row(&self, block_row: usize, out: &mut [u8]) {
        let levels = &self.level[block_row * self.bw..][..self.bw];
        // One level covers the row when uniform. Blocks are filled as fixed-size
        // arrays: a fill call per 2-pixel block cost more than the row scan itself.
        match (self.bw, self.shift) {
            (1, _) => out.fill(levels[0]),
            (_, 1) => fill_pairs(levels, out),
            (_, 2) => fill_blocks::<4>(levels, out),
            (_, 3) => fill_blocks::<8>(levels, out),
            (_, shift) => {
                for (bx, dst) in out.chunks_mut(1 << shift).enumerate() {
                    dst.fill(levels[bx.min(self.bw - 1)]);
                }
            }
        }
    }

    /// The threshold of the block holding pixel (x, y) (clamped to the image).
    #[inline]
    pub fn at_pixel(&self, x: usize, y: usize) -> u8 {
        let bx = (x >> self.shift).min(self.bw - 1);
        let by = (y >> self.shift).min(self.bh - 1);
        self.level[by * self.bw + bx]
    }
}

/// Each block's level over its `B` pixels; the last block also covers any remainder
/// past whole blocks.
fn fill_blocks<const B: usize>(levels: &[u8], out: &mut [u8]) {
    let whole = levels.len().min(out.len() / B);
    let (head, tail) = out.split_at_mut(whole * B);
    for (dst, &level) in head.as_chunks_mut::<B>().0.iter_mut().zip(levels) {
        *dst = [level; B];
    }
    tail.fill(levels[levels.len() - 1]);
}

/// [`fill_blocks`] for 2-pixel blocks (the fine threshold, once per scanned row), eight
/// levels at a time: each byte of a word doubled with shifts and masks, where a
/// 2-byte store per block had cost five instructions.
fn fill_pairs(levels: &[u8], out: &mut [u8]) {
    // The last level stays for `fill_blocks`, which spreads it over any remainder.
    let whole = levels.len().saturating_sub(1).min(out.len() / 2) / 8;
    for (dst, src) in out.as_chunks_mut::<16>().0.iter_mut().zip(&levels.as_chunks::<8>().0[..whole]) {
        let v = u64::from_le_bytes(*src);
        let spread = |half: u64| {
            let x = (half | (half << 16)) & 0x0000_FFFF_0000_FFFF;
            let x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
            (x | (x << 8)).to_le_bytes()
        };
        dst[..8].copy_from_slice(&spread(v & 0xFFFF_FFFF));
        dst[8..].copy_from_slice(&spread(v >> 32));
    }
    fill_blocks::<2>(&levels[whole * 8..], &mut out[whole * 16..]);
}

/// zxing's hybrid thresholds; `None` when the image is too small to tile in blocks.
pub(crate) fn thresholds<const B: usize>(img: &Gray, radius: usize) -> Option<Thresholds> {
    const { assert!(B.is_power_of_two() && B <= 16) };
    debug_assert!(radius <= 7);
    let (w, h) = (img.w, img.h);
    let span = 2 * radius + 1;
    // The window of blocks must fit: it is shifted inwards at the edges, never cut.
    if w < B * span || h < B * span {
        return None;
    }
    let (bw, bh) = (w.div_ceil(B), h.div_ceil(B));
    let (sums, mins, maxs) = block_stats::<B>(img, bw, bh);
    // A block's level is its mean, unless the block is flat (no edge in it): then
    // it is background, and its level sits just below its darkest pixel (zxing uses
    // half the minimum, which drags the mean of nearby edge blocks down and loses dark
    // modules of low contrast), unless its already-computed neighbours (up, left,
    // up-left) say it lies inside a darker area, such as the centre of a large
    // module. That carries the paper's level into dark areas from above and left.
    let mut level = scratch::filled(bw * bh, 0u8);
    let shift = 2 * B.trailing_zeros();
    for by in 0..bh {
        let (done, rest) = level.split_at_mut(by * bw);
        let up = if by > 0 { &done[(by - 1) * bw..] } else { &[][..] };
        let row = &mut rest[..bw];
        let (sums, mins, maxs) = (&sums[by * bw..][..bw], &mins[by * bw..][..bw], &maxs[by * bw..][..bw]);
        let block = |bx: usize, neighbours: Option<u32>| {
            let (min, max) = (u32::from(mins[bx]), u32::from(maxs[bx]));
            if max - min > MIN_RANGE {
                return u32::from(sums[bx]) >> shift;
            }
            match neighbours {
                Some(n) if min < n => n,
                _ => min.saturating_sub(MIN_RANGE / 2),
            }
        };
        let mut left = block(0, (by > 0).then(|| u32::from(up[0])));
        row[0] = left as u8;
        if by == 0 {
            for (bx, out) in row.iter_mut().enumerate().skip(1) {
                left = block(bx, Some(left));
                *out = left as u8;
            }
            continue;
        }
        // Every block below the first row has all three neighbours; zipped slices
        // rather than indices, so the loop carries no bounds checks (it runs once per
        // 2x2 block on the first pass: 230,400 times a 720p frame).
        let blocks = sums[1..].iter().zip(&mins[1..]).zip(&maxs[1..]).zip(up.iter().zip(&up[1..]));
        for (out, (((&sum, &min), &max), (&up_left, &up))) in row[1..].iter_mut().zip(blocks) {
            let (min, max) = (u32::from(min), u32::from(max));
            left = if max - min > MIN_RANGE {
                u32::from(sum) >> shift
            } else {
                let n = (u32::from(up) + 2 * left + u32::from(up_left)) / 4;
                if min < n { n } else { min.saturating_sub(MIN_RANGE / 2) }
            };
            *out = left as u8;
        }
    }
    // Each block's threshold: the mean level of the span x span blocks around it
    // (shifted inwards at the frame's edges, so always span² of them). Rows first,
    // then columns; the division by the constant count is a multiply.
    let start = |i: usize, n: usize| i.saturating_sub(radius).min(n - span);
    let mut across = scratch::filled(bw * bh, 0u16);
    let mut prefix = vec![0u16; bw + 1];
    for (src, dst) in level.chunks_exact(bw).zip(across.chunks_exact_mut(bw)) {
        // Running sums along the row, wrapping: a window's sum (at most 255 * 15) is
        // still the exact difference of two of them modulo 2^16.
        let mut acc = 0u16;
        for (p, &v) in prefix[1..].iter_mut().zip(src) {
            acc = acc.wrapping_add(u16::from(v));
            *p = acc;
        }
        // Windows start at 0 up to `radius`, then slide, then stay at bw - span.
        let inner = bw - 2 * radius;
        let (first, last) = (prefix[span], prefix[bw].wrapping_sub(prefix[bw - span]));
        dst[..radius].fill(first);
        for ((d, &hi), &lo) in dst[radius..radius + inner].iter_mut().zip(&prefix[span..]).zip(&prefix[..inner]) {
            *d = hi.wrapping_sub(lo);
        }
        dst[radius + inner..].fill(last);
    }
    // span² <= 225 blocks of at most 255: the sum fits 16 bits, the product 32.
    let count = (span * span) as u32;
    let reciprocal = (1u32 << 16).div_ceil(count);
    let mut out = scratch::filled(bw * bh, 0u8);
    // The column sums of the current window of block rows, slid down one row at a
    // time (one row in, one out) rather than summed afresh.
    let mut column = vec![0u32; bw];
    for row in across[..span * bw].chunks_exact(bw) {
        for (c, &v) in column.iter_mut().zip(row) {
            *c += u32::from(v);
        }
    }
    let mut y0 = 0;
    for by in 0..bh {
        let want = start(by, bh);
        while y0 < want {
            let (gone, new) = (&across[y0 * bw..][..bw], &across[(y0 + span) * bw..][..bw]);
            for ((c, &g), &n) in column.iter_mut().zip(gone).zip(new) {
                *c = *c + u32::from(n) - u32::from(g);
            }
            y0 += 1;
        }
        for (o, &c) in out[by * bw..(by + 1) * bw].iter_mut().zip(&column) {
            *o = ((c * reciprocal) >> 16).min(255) as u8;
        }
    }
    for buffer in [level, mins, maxs] {
        scratch::give(buffer);
    }
    scratch::give(across);
    scratch::give(sums);
    Some(Thresholds { shift: B.trailing_zeros(), bw, bh, level: out })
}

/// Sum, minimum and maximum of each block; the last block of a row or column is
/// shifted inwards to lie wholly in the image. Columns are folded first (B rows at a
/// time, element by element, which the compiler vectorises), then each B-wide chunk.
fn block_stats<const B: usize>(img: &Gray, bw: usize, bh: usize) -> (Vec<u16>, Vec<u8>, Vec<u8>) {
    let (w, h) = (img.w, img.h);
    let (mut sums, mut mins, mut maxs) = (scratch::take(bw * bh), scratch::take(bw * bh), scratch::take(bw * bh));
    let (mut sum, mut min, mut max) = (vec![0u16; w], vec![0u8; w], vec![0u8; w]);
    for by in 0..bh {
        let y0 = (by * B).min(h - B);
        // The block row's first pixel row sets the column stats (filling them with
        // neutral values first had cost as much again as a row's fold).
        let (first, rest) = img.px[y0 * w..(y0 + B) * w].split_at(w);
        for (((&v, s), lo), hi) in first.iter().zip(&mut sum).zip(&mut min).zip(&mut max) {
            (*s, *lo, *hi) = (u16::from(v), v, v);
        }
        for row in rest.chunks_exact(w) {
            for (((&v, s), lo), hi) in row.iter().zip(&mut sum).zip(&mut min).zip(&mut max) {
                *s += u16::from(v);
                *lo = (*lo).min(v);
                *hi = (*hi).max(v);
            }
        }
        let full = w / B;
        sums.extend(sum.as_chunks::<B>().0.iter().map(|c| c.iter().sum::<u16>()));
        mins.extend(min.as_chunks::<B>().0.iter().map(|c| c.iter().fold(255u8, |a, &v| a.min(v))));
        maxs.extend(max.as_chunks::<B>().0.iter().map(|c| c.iter().fold(0u8, |a, &v| a.max(v))));
        if full < bw {
            sums.push(sum[w - B..].iter().sum::<u16>());
            mins.push(min[w - B..].iter().fold(255u8, |a, &v| a.min(v)));
            maxs.push(max[w - B..].iter().fold(0u8, |a, &v| a.max(v)));
        }
    }
    (sums, mins, maxs)
}

/// Binarises a view for rqrr's region search; `true` is dark (light when inverted).
pub(crate) fn apply(img: &Gray, t: &Thresholds, invert: bool) -> Bits {
    let w = img.w;
    let mut out = scratch::filled(w * img.h, false);
    let mut row_levels = vec![0u8; w];
    let mut filled = usize::MAX;
    for (y, (src, dst)) in img.px.chunks_exact(w).zip(out.chunks_exact_mut(w)).enumerate() {
        if t.block_row(y) != filled {
            filled = t.block_row(y);
            t.fill_row(filled, &mut row_levels);
        }
        for ((&v, &level), o) in src.iter().zip(&row_levels).zip(dst) {
            *o = (v <= level) != invert;
        }
    }
    out
}

/// Otsu's level as thresholds.
pub(crate) fn global_thresholds(img: &Gray) -> Thresholds {
    Thresholds::uniform(otsu(&img.px))
}

/// Otsu's method: the level that best separates the histogram into two classes.
fn otsu(px: &[u8]) -> u8 {
    // Four histograms filled in turn: with one, a run of equal pixels (a flat frame is
    // mostly runs) makes each increment wait for the previous one's store.
    let mut parts = [[0u32; 256]; 4];
    let (quads, rest) = px.as_chunks::<4>();
    for q in quads {
        for (part, &v) in parts.iter_mut().zip(q) {
            part[usize::from(v)] += 1;
        }
    }
    for &v in rest {
        parts[0][usize::from(v)] += 1;
    }
    let hist: [u64; 256] = std::array::from_fn(|i| parts.iter().map(|p| u64::from(p[i])).sum());
    let total = px.len() as f64;
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0f64, 0f64, -1f64, 127u8);
    for (t, &count) in hist.iter().enumerate() {
        w0 += count as f64;
        sum0 += t as f64 * count as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let between = w0 * w1 * (sum0 / w0 - (sum_all - sum0) / w1).powi(2);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Gray {
        Gray { w, h, px: (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| f(x, y)).collect() }
    }

    fn local(img: &Gray) -> Bits {
        match thresholds::<8>(img, 2) {
            Some(t) => apply(img, &t, false),
            None => global(img),
        }
    }

    fn global(img: &Gray) -> Bits {
        apply(img, &global_thresholds(img), false)
    }

    #[test]
    fn local_threshold_follows_a_light_gradient() {
        // Dark stripes on a background whose brightness falls from 250 to 90 across the
        // frame; the stripes are always 60 below their background. One global level
        // cannot separate both ends.
        let img = gray(160, 64, |x, _| {
            let bg = 250 - (x as u32 * 160 / 160) as u8;
            if (x / 4) % 4 == 0 { bg - 60 } else { bg }
        });
        let bits = local(&img);
        for x in 0..160 {
            let dark = (x / 4) % 4 == 0;
            assert_eq!(bits[32 * 160 + x], dark, "column {x}");
        }
        let g = global(&img);
        assert!((0..160).any(|x| g[32 * 160 + x] != ((x / 4) % 4 == 0)));
    }

    #[test]
    fn pairs_fill_as_blocks_do() {
        for (n, w) in [(0usize, 0usize), (3, 5), (8, 16), (9, 17), (40, 79), (41, 82), (64, 128)] {
            let levels: Vec<u8> = (0..n.max(1)).map(|i| (i * 37 % 251) as u8).collect();
            let (mut a, mut b) = (vec![0u8; w], vec![0u8; w]);
            fill_pairs(&levels, &mut a);
            fill_blocks::<2>(&levels, &mut b);
            assert_eq!(a, b, "{n} levels over {w} pixels");
        }
    }

    #[test]
    fn flat_noisy_area_stays_white() {
        let img = gray(80, 80, |x, y| 200 + ((x * 7 + y * 13) % 9) as u8);
        assert!(local(&img).iter().all(|&b| !b));
    }

    #[test]
    fn tiny_images_use_the_global_level() {
        let img = gray(3, 1, |x, _| [10, 240, 12][x]);
        assert_eq!(local(&img), vec![true, false, true]);
        let one = gray(1, 1, |_, _| 0);
        assert_eq!(local(&one).len(), 1);
    }
}
