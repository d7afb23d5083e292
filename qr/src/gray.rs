//! A tightly packed 8-bit grey image and the resolution changes the decoder uses.

use super::scratch;
use super::{LumaFrame, QrError};

/// Longest side the engine accepts. Larger frames are refused, not silently cropped:
/// no phone camera stream is this large, and the cap bounds the work per call.
pub(crate) const MAX_SIDE: u32 = 16_384;
/// Most pixels the engine accepts in one frame (64 MP).
pub(crate) const MAX_PIXELS: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Gray {
    pub w: usize,
    pub h: usize,
    pub px: Vec<u8>,
}

/// A view's pixels go back to the thread's buffers for the next view or frame.
impl Drop for Gray {
    fn drop(&mut self) {
        scratch::give(std::mem::take(&mut self.px));
    }
}

/// Checks that the frame's numbers fit together and returns the byte range of its rows.
pub(crate) fn validate(frame: &LumaFrame<'_>) -> Result<(), QrError> {
    let (w, h, stride) = (frame.width, frame.height, frame.stride);
    if w == 0 || h == 0 {
        return Err(QrError::InvalidFrame(format!("empty frame {w}x{h}")));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(QrError::FrameTooLarge { width: w, height: h, limit: MAX_SIDE, max_pixels: MAX_PIXELS });
    }
    if stride < w {
        return Err(QrError::InvalidFrame(format!("row stride {stride} is less than width {w}")));
    }
    // The last row needs only `width` bytes: platforms often omit its padding.
    let needed = u64::from(stride) * u64::from(h - 1) + u64::from(w);
    if (frame.data.len() as u64) < needed {
        return Err(QrError::InvalidFrame(format!(
            "buffer holds {} bytes, a {w}x{h} frame with stride {stride} needs {needed}",
            frame.data.len()
        )));
    }
    Ok(())
}

impl Gray {
    /// Copies a validated frame, shrinking it by an integer `factor` with a box filter
    /// (averaging keeps thin modules grey rather than dropping them, as skipping would).
    pub fn from_frame(frame: &LumaFrame<'_>, factor: usize) -> Gray {
        let (fw, fh, stride) = (frame.width as usize, frame.height as usize, frame.stride as usize);
        let factor = factor.max(1);
        let (w, h) = ((fw / factor).max(1), (fh / factor).max(1));
        let mut px = scratch::take(w * h);
        if factor == 1 {
            for y in 0..h {
                px.extend_from_slice(&frame.data[y * stride..y * stride + w]);
            }
            return Gray { w, h, px };
        }
        // When a side is smaller than the factor, clamp the box to what exists.
        let (fx, fy) = (factor.min(fw), factor.min(fh));
        if (fx, fy) == (2, 2) {
            // The half-resolution view of the ladder: pairs of rows, pairs of pixels.
            for y in 0..h {
                let (top, bottom) = (&frame.data[2 * y * stride..][..2 * w], &frame.data[(2 * y + 1) * stride..][..2 * w]);
                px.extend(top.as_chunks::<2>().0.iter().zip(bottom.as_chunks::<2>().0).map(|(t, b)| {
                    ((u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1])) / 4) as u8
                }));
            }
            return Gray { w, h, px };
        }
        let mut acc = vec![0u32; w];
        let area = (fx * fy) as u32;
        for y in 0..h {
            acc.fill(0);
            for dy in 0..fy {
                let row = &frame.data[(y * fy + dy) * stride..];
                for (x, a) in acc.iter_mut().enumerate() {
                    let src = &row[x * fx..x * fx + fx];
                    *a += src.iter().map(|&v| u32::from(v)).sum::<u32>();
                }
            }
            px.extend(acc.iter().map(|&a| (a / area) as u8));
        }
        Gray { w, h, px }
    }

    /// Bilinear 2x enlargement: gives rqrr's finder search enough pixels per module
    /// when a code is small in the frame.
    pub fn upscale2(&self) -> Gray {
        let (w, h) = (self.w * 2, self.h * 2);
        // Separable, rows then columns, both as whole rows (cache order). Sample centres
        // sit at 1/4 and 3/4 between source pixels; edges repeat the last pixel.
        // Horizontal values are scaled by 4, so at most 1020: u16 holds 4x that.
        // Both buffers are written in order, never zeroed first: at 720p they are
        // megabytes, and zeroing them cost a tenth of the enlargement.
        let mut rows: Vec<u16> = scratch::take(self.h * w);
        for src in self.px.chunks_exact(self.w) {
            let last = src.len() - 1;
            rows.extend(src.iter().enumerate().flat_map(|(k, &a)| {
                let a = u16::from(a);
                let left = if k == 0 { a } else { u16::from(src[k - 1]) };
                [left + 3 * a, 3 * a + u16::from(src[(k + 1).min(last)])]
            }));
        }
        let mut px: Vec<u8> = scratch::take(w * h);
        let last = self.h - 1;
        for y in 0..h {
            // Output row 2k+1: 3/4 of row k, 1/4 of row k+1; row 2k: 1/4 of k-1, 3/4 of k.
            let (near, far) = if y % 2 == 1 { (y / 2, (y / 2 + 1).min(last)) } else { (y / 2, (y / 2).saturating_sub(1)) };
            let (near, far) = (&rows[near * w..(near + 1) * w], &rows[far * w..(far + 1) * w]);
            px.extend(near.iter().zip(far).map(|(&n, &f)| ((3 * n + f + 8) / 16) as u8));
        }
        scratch::give(rows);
        Gray { w, h, px }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8], width: u32, height: u32, stride: u32) -> LumaFrame<'_> {
        LumaFrame { data, width, height, stride }
    }

    #[test]
    fn validation_catches_every_mismatch() {
        let buf = [0u8; 100];
        assert!(validate(&frame(&buf, 10, 10, 10)).is_ok());
        // Last row without padding is fine.
        assert!(validate(&frame(&buf[..94], 4, 4, 30)).is_ok());
        assert!(matches!(validate(&frame(&buf, 0, 10, 10)), Err(QrError::InvalidFrame(_))));
        assert!(matches!(validate(&frame(&buf, 10, 10, 9)), Err(QrError::InvalidFrame(_))));
        assert!(matches!(validate(&frame(&buf, 10, 11, 10)), Err(QrError::InvalidFrame(_))));
        assert!(matches!(
            validate(&frame(&buf, u32::MAX, u32::MAX, u32::MAX)),
            Err(QrError::FrameTooLarge { .. })
        ));
        assert!(matches!(validate(&frame(&buf, 10_000, 10_000, 10_000)), Err(QrError::FrameTooLarge { .. })));
    }

    #[test]
    fn copies_rows_without_padding_and_box_filters() {
        let data: Vec<u8> = (0..24).map(|v| v * 10).collect();
        let f = frame(&data, 4, 4, 6);
        let g = Gray::from_frame(&f, 1);
        assert_eq!((g.w, g.h), (4, 4));
        assert_eq!(&g.px[4..8], &[60, 70, 80, 90]);
        let half = Gray::from_frame(&f, 2);
        assert_eq!((half.w, half.h), (2, 2));
        assert_eq!(half.px[0], ((0 + 10 + 60 + 70) / 4) as u8);
        // A 1-pixel-high frame shrinks to 1 row, not 0.
        let line = Gray::from_frame(&frame(&[9u8; 8], 8, 1, 8), 2);
        assert_eq!((line.w, line.h, line.px[0]), (4, 1, 9));
    }

    #[test]
    fn upscale_keeps_flat_areas_flat_and_edges_between() {
        let g = Gray { w: 2, h: 1, px: vec![0, 200] };
        let up = g.upscale2();
        assert_eq!((up.w, up.h), (4, 2));
        assert_eq!(up.px[0], 0);
        assert_eq!(up.px[3], 200);
        assert!(up.px[1] > 0 && up.px[1] < up.px[2] && up.px[2] < 200);
    }
}
