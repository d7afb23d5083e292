//! Rendering codes: a module matrix, SVG and PNG.
//!
//! The qrcode crate picks the segment modes (numeric, alphanumeric, byte) that give the
//! smallest symbol, so a payload from `taipei_protocol::qrpayload` (prefix + digits or
//! base45) lands in the dense modes without the caller asking. The quiet zone is ours
//! to size: screens that show a code inside other UI need the full 4 modules, paper
//! layouts sometimes less.

use super::QrError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcLevel {
    /// ~7% of codewords can be restored.
    L,
    /// ~15%.
    M,
    /// ~25%.
    Q,
    /// ~30%.
    H,
}

impl EcLevel {
    /// rqrr reports the two format bits as they are: 01 L, 00 M, 11 Q, 10 H.
    pub(crate) fn from_rqrr(bits: u16) -> EcLevel {
        match bits {
            1 => EcLevel::L,
            0 => EcLevel::M,
            3 => EcLevel::Q,
            _ => EcLevel::H,
        }
    }

    pub(crate) fn to_qrcode(self) -> qrcode::EcLevel {
        match self {
            EcLevel::L => qrcode::EcLevel::L,
            EcLevel::M => qrcode::EcLevel::M,
            EcLevel::Q => qrcode::EcLevel::Q,
            EcLevel::H => qrcode::EcLevel::H,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    pub ec_level: EcLevel,
    /// Light border, in modules, on each side. The standard asks for 4.
    pub quiet_zone: u32,
    /// Pixels per module in PNG output (SVG scales freely and uses 1 unit per module).
    pub module_px: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { ec_level: EcLevel::M, quiet_zone: 4, module_px: 8 }
    }
}

/// Largest PNG side we will allocate.
const MAX_PNG_SIDE: u64 = 16_384;
/// A quiet zone beyond this is a caller mistake, not a layout.
const MAX_QUIET_ZONE: u32 = 64;

/// The code's modules, quiet zone included, row by row; `true` is dark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules per side, quiet zone included.
    pub width: u32,
    pub dark: Vec<bool>,
    /// QR version chosen, 1..=40.
    pub version: u8,
}

impl QrMatrix {
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.width && self.dark[(y * self.width + x) as usize]
    }
}

pub fn matrix(text: &str, options: &RenderOptions) -> Result<QrMatrix, QrError> {
    matrix_bytes(text.as_bytes(), options)
}

/// As [`matrix`], for a payload that is not text.
pub fn matrix_bytes(data: &[u8], options: &RenderOptions) -> Result<QrMatrix, QrError> {
    if options.quiet_zone > MAX_QUIET_ZONE {
        return Err(QrError::Render(format!(
            "quiet zone of {} modules is more than {MAX_QUIET_ZONE}",
            options.quiet_zone
        )));
    }
    let code = qrcode::QrCode::with_error_correction_level(data, options.ec_level.to_qrcode()).map_err(|e| {
        QrError::Render(format!("{} bytes at level {:?}: {e}", data.len(), options.ec_level))
    })?;
    let version = match code.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v as u8,
    };
    let inner = code.width() as u32;
    let qz = options.quiet_zone;
    let width = inner + 2 * qz;
    let colors = code.to_colors();
    let mut dark = vec![false; (width * width) as usize];
    for y in 0..inner {
        for x in 0..inner {
            dark[((y + qz) * width + x + qz) as usize] = colors[(y * inner + x) as usize] == qrcode::Color::Dark;
        }
    }
    Ok(QrMatrix { width, dark, version })
}

/// SVG with one unit per module and a single path for the dark modules (small, and
/// free of the hairline seams that per-module rectangles show when scaled).
pub fn svg(text: &str, options: &RenderOptions) -> Result<String, QrError> {
    let m = matrix(text, options)?;
    let mut path = String::new();
    for y in 0..m.width {
        let mut x = 0;
        while x < m.width {
            if !m.is_dark(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < m.width && m.is_dark(x, y) {
                x += 1;
            }
            path.push_str(&format!("M{start} {y}h{}v1h-{}z", x - start, x - start));
        }
    }
    let w = m.width;
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {w}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{w}\" height=\"{w}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

/// 8-bit greyscale PNG, `module_px` pixels per module.
pub fn png(text: &str, options: &RenderOptions) -> Result<Vec<u8>, QrError> {
    let m = matrix(text, options)?;
    let px = options.module_px;
    let side = u64::from(m.width) * u64::from(px);
    if px == 0 || side > MAX_PNG_SIDE {
        return Err(QrError::Render(format!(
            "{} modules at {px} px each gives a {side} px image (must be 1..={MAX_PNG_SIDE})",
            m.width
        )));
    }
    let side = side as u32;
    let mut pixels = Vec::with_capacity((side as usize) * (side as usize));
    for y in 0..side {
        pixels.extend((0..side).map(|x| if m.is_dark(x / px, y / px) { 0u8 } else { 255 }));
    }
    let failed = |e: png::EncodingError| QrError::Render(format!("PNG encoding failed: {e}"));
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_has_finders_and_quiet_zone() {
        let m = matrix("TPL1:0123456789", &RenderOptions { quiet_zone: 2, ..Default::default() }).unwrap();
        assert_eq!(m.width, 21 + 4);
        assert!((0..m.width).all(|i| !m.is_dark(i, 0) && !m.is_dark(0, i) && !m.is_dark(1, i)));
        // Top-left finder: dark 7x7 ring starting right after the quiet zone.
        assert!(m.is_dark(2, 2) && m.is_dark(8, 2) && m.is_dark(2, 8) && !m.is_dark(3, 3));
    }

    #[test]
    fn numeric_and_alphanumeric_payloads_get_smaller_codes() {
        let opts = RenderOptions::default();
        // 60 digits fit version 2-M in numeric mode; as bytes they need version 4.
        let digits = "1".repeat(60);
        assert!(matrix(&digits, &opts).unwrap().version <= 2);
        let alnum = "TPC1:".to_owned() + &"A1".repeat(30);
        let lower = alnum.to_lowercase();
        assert!(matrix(&alnum, &opts).unwrap().version < matrix(&lower, &opts).unwrap().version);
    }

    #[test]
    fn ec_level_changes_the_symbol() {
        let low = matrix("hello world", &RenderOptions { ec_level: EcLevel::L, ..Default::default() }).unwrap();
        let high = matrix("hello world", &RenderOptions { ec_level: EcLevel::H, ..Default::default() }).unwrap();
        assert_ne!(low.dark, high.dark);
    }

    #[test]
    fn too_long_and_bad_sizes_are_errors() {
        let opts = RenderOptions::default();
        assert!(matches!(matrix(&"x".repeat(3000), &opts), Err(QrError::Render(_))));
        assert!(matches!(png("x", &RenderOptions { module_px: 0, ..opts }), Err(QrError::Render(_))));
        assert!(matches!(png("x", &RenderOptions { module_px: 10_000, ..opts }), Err(QrError::Render(_))));
        assert!(matches!(matrix("x", &RenderOptions { quiet_zone: 1000, ..opts }), Err(QrError::Render(_))));
    }

    #[test]
    fn svg_is_one_path() {
        let s = svg("TPB1:ABC", &RenderOptions::default()).unwrap();
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<path").count(), 1);
    }
}
