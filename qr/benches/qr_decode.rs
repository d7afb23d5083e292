//! Decode time of the QR ladder on synthetic frames (regression tracking).
//!
//! The comparison with zxing-cpp on realistic camera frames is tools/qrbench
//! (`tools/qrbench/run.sh`); this bench only watches the core's own cost: a frame
//! with a code (found by the first pass) and a frame without one (every pass runs).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use taipei_qr::{LumaFrame, RenderOptions, decode_luma, render};

fn frame(w: usize, h: usize, with_code: bool) -> Vec<u8> {
    let m = render::matrix("TPL1:1234567890123456789012345678901234567890", &RenderOptions::default())
        .expect("a short payload always renders");
    let module = h / 2 / m.width as usize;
    let (ox, oy) = (w / 3, h / 4);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            // A soft gradient with texture, like a scene.
            let bg = (90 + x * 100 / w + (x * 7 + y * 13) % 11) as u8;
            let (mx, my) = (x.wrapping_sub(ox) / module, y.wrapping_sub(oy) / module);
            if with_code && x >= ox && y >= oy && mx < m.width as usize && my < m.width as usize {
                if m.is_dark(mx as u32, my as u32) { 35 } else { 225 }
            } else {
                bg
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (w, h) in [(640, 480), (1280, 720)] {
        for with_code in [true, false] {
            let data = frame(w, h, with_code);
            let f = LumaFrame { data: &data, width: w as u32, height: h as u32, stride: w as u32 };
            assert_eq!(decode_luma(&f).map(|v| v.len()).unwrap_or(0), usize::from(with_code));
            let name = format!("decode_luma {w}x{h} {}", if with_code { "code" } else { "empty" });
            c.bench_function(&name, |b| b.iter(|| decode_luma(black_box(&f))));
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
