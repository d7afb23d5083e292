//! Turning grey into black and white, the step that decides most scans.
//!
//! `local` follows zxing's hybrid binariser: the threshold of each 8x8 block is the
//! mean of the 5x5 blocks around it, so a gradient of light or a glare patch moves the
//! threshold with it. Blocks with almost no contrast take their neighbours' level (or
//! count as background) instead of amplifying sensor noise into speckle, which would
//! both hide finder patterns and flood rqrr's region search with tiny blobs.
//! `global` is Otsu's threshold over the whole frame: better for large modules where a
//! block can lie wholly inside one dark module.

use super::gray::Gray;

const BLOCK: usize = 8;
/// Contrast below which a block is treated as flat (zxing's MIN_DYNAMIC_RANGE).
const MIN_RANGE: u32 = 24;
/// Below this size blocks do not tile the frame well; fall back to one global level.
const MIN_LOCAL_SIDE: usize = BLOCK * 5;

/// Black-and-white image: `true` is dark.
pub(crate) type Bits = Vec<bool>;

pub(crate) fn local(img: &Gray) -> Bits {
    let (w, h) = (img.w, img.h);
    if w < MIN_LOCAL_SIDE || h < MIN_LOCAL_SIDE {
        return global(img);
    }
    let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
    let mut level = vec![0u32; bw * bh];
    for by in 0..bh {
        let y0 = (by * BLOCK).min(h - BLOCK);
        for bx in 0..bw {
            let x0 = (bx * BLOCK).min(w - BLOCK);
            let (mut sum, mut min, mut max) = (0u32, 255u32, 0u32);
            for y in y0..y0 + BLOCK {
                for &v in &img.px[y * w + x0..y * w + x0 + BLOCK] {
                    let v = u32::from(v);
                    sum += v;
                    min = min.min(v);
                    max = max.max(v);
                }
            }
            let mut avg = sum / (BLOCK * BLOCK) as u32;
            if max - min <= MIN_RANGE {
                // A flat block: background, so its level sits just below its darkest
                // pixel (zxing uses half the minimum, which drags the 5x5 mean of
                // nearby edge blocks down and loses dark modules of low contrast),
                // unless its already-computed neighbours say it lies inside a darker
                // area, such as the centre of a large module.
                avg = min.saturating_sub(MIN_RANGE / 2);
                let up = (by > 0).then(|| level[(by - 1) * bw + bx]);
                let left = (bx > 0).then(|| level[by * bw + bx - 1]);
                let neighbours = match (up, left) {
                    (Some(u), Some(l)) => Some((u + 2 * l + level[(by - 1) * bw + bx - 1]) / 4),
                    (Some(n), None) | (None, Some(n)) => Some(n),
                    (None, None) => None,
                };
                if let Some(n) = neighbours.filter(|&n| min < n) {
                    avg = n;
                }
            }
            level[by * bw + bx] = avg;
        }
    }
    let mut out = vec![false; w * h];
    for by in 0..bh {
        let y0 = (by * BLOCK).min(h - BLOCK);
        let cy = by.clamp(2, bh.saturating_sub(3).max(2));
        for bx in 0..bw {
            let x0 = (bx * BLOCK).min(w - BLOCK);
            let cx = bx.clamp(2, bw.saturating_sub(3).max(2));
            let (mut sum, mut n) = (0u32, 0u32);
            for ny in cy.saturating_sub(2)..(cy + 3).min(bh) {
                for nx in cx.saturating_sub(2)..(cx + 3).min(bw) {
                    sum += level[ny * bw + nx];
                    n += 1;
                }
            }
            let threshold = sum / n.max(1);
            for y in y0..y0 + BLOCK {
                let row = y * w;
                for x in x0..x0 + BLOCK {
                    out[row + x] = u32::from(img.px[row + x]) <= threshold;
                }
            }
        }
    }
    out
}

pub(crate) fn global(img: &Gray) -> Bits {
    let t = otsu(&img.px);
    img.px.iter().map(|&v| v <= t).collect()
}

/// Otsu's method: the level that best separates the histogram into two classes.
fn otsu(px: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &v in px {
        hist[v as usize] += 1;
    }
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
