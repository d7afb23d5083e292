//! From a sampled grid to corrected data codewords: format, module order, unmasking,
//! de-interleaving and Reed–Solomon correction.
//!
//! The locators offer many candidate grids per frame (several versions, two
//! fourth-corner estimates, several triples) and almost all of them are wrong, so this
//! is built to say no quickly: GF(256) log/exp tables, every block checked, the first
//! uncorrectable block ends the grid. (rqrr's decoder, used before, computed every
//! syndrome term with a `pow` and cost ~2 ms per large symbol read.) A correction is
//! accepted only when the error locator of degree L has exactly L roots inside the
//! block, L stays within the misdecode guard, and the syndromes of the corrected block
//! are all zero.

use std::sync::OnceLock;

use rqrr::BitGrid;

use super::render::EcLevel;

const fn gf_tables() -> ([u8; 512], [u8; 256]) {
    // GF(256) with QR's polynomial x^8 + x^4 + x^3 + x^2 + 1; α = 2.
    let (mut exp, mut log) = ([0u8; 512], [0u8; 256]);
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    // Doubled so that exp[log a + log b] needs no reduction.
    while i < 512 {
        exp[i] = exp[i - 255];
        i += 1;
    }
    (exp, log)
}

static GF: ([u8; 512], [u8; 256]) = gf_tables();

fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 { 0 } else { GF.0[usize::from(GF.1[usize::from(a)]) + usize::from(GF.1[usize::from(b)])] }
}

fn div(a: u8, b: u8) -> u8 {
    // Callers never divide by zero (b is a non-zero discrepancy).
    if a == 0 || b == 0 { 0 } else { GF.0[usize::from(GF.1[usize::from(a)]) + 255 - usize::from(GF.1[usize::from(b)])] }
}

/// Whether a block (data then EC codewords, highest degree first) with `npar` EC
/// codewords is a codeword or within reach of one.
#[cfg(test)]
pub(crate) fn block_correctable(block: &[u8], npar: usize) -> bool {
    correct_block(&mut block.to_vec(), npar, npar / 2)
}

/// Corrects a block in place (data then EC codewords, highest degree first) with
/// `npar` EC codewords, fixing at most `max_errors` codewords. `false` (block left as
/// it may be) when the errors are beyond that reach.
///
/// Syndromes S_i = r(α^i), i < npar (QR's generator has roots α^0..α^(npar-1));
/// Berlekamp–Massey gives the error locator Λ; a Chien search over the block's
/// positions finds its roots, each α^-j for an error at degree j; Forney's formula
/// (first root α^0) gives each magnitude X·Ω(X⁻¹)/Λ'(X⁻¹). The syndromes are checked
/// again after the fix: a decoder that miscorrects is worse than one that gives up.
pub(crate) fn correct_block(block: &mut [u8], npar: usize, max_errors: usize) -> bool {
    const MAX_NPAR: usize = 32;
    let n = block.len();
    if npar == 0 || npar > MAX_NPAR || n <= npar || n > 255 {
        return false;
    }
    let syndromes = |block: &[u8]| {
        let mut s = [0u8; MAX_NPAR];
        for (i, si) in s.iter_mut().enumerate().take(npar) {
            let a = GF.0[i];
            *si = block.iter().fold(0u8, |acc, &c| mul(acc, a) ^ c);
        }
        s
    };
    let s = syndromes(block);
    if s[..npar].iter().all(|&v| v == 0) {
        return true;
    }
    // Berlekamp–Massey: the shortest LFSR (error locator) generating the syndromes.
    let (mut c, mut b) = ([0u8; MAX_NPAR + 2], [0u8; MAX_NPAR + 2]);
    c[0] = 1;
    b[0] = 1;
    let (mut l, mut m, mut bb) = (0usize, 1usize, 1u8);
    for k in 0..npar {
        let d = (1..=l).fold(s[k], |d, i| d ^ mul(c[i], s[k - i]));
        if d == 0 {
            m += 1;
            continue;
        }
        let coef = div(d, bb);
        let prev = c;
        for i in 0..c.len() - m {
            c[i + m] ^= mul(coef, b[i]);
        }
        if 2 * l <= k {
            l = k + 1 - l;
            b = prev;
            bb = d;
            m = 1;
        } else {
            m += 1;
        }
    }
    if l == 0 || 2 * l > npar || l > max_errors {
        return false;
    }
    let eval = |poly: &[u8], x: u8| poly.iter().rev().fold(0u8, |acc, &ci| mul(acc, x) ^ ci);
    // Ω(x) = S(x)·Λ(x) mod x^npar.
    let mut omega = [0u8; MAX_NPAR];
    for i in 0..npar {
        for j in 0..=l.min(i) {
            omega[i] ^= mul(s[i - j], c[j]);
        }
    }
    // Λ'(x): the formal derivative keeps the odd terms, each one degree down.
    let mut deriv = [0u8; MAX_NPAR + 2];
    for i in (1..=l).step_by(2) {
        deriv[i - 1] = c[i];
    }
    let mut found = 0;
    for j in 0..n {
        let x_inv = GF.0[(255 - j % 255) % 255];
        if eval(&c[..=l], x_inv) != 0 {
            continue;
        }
        let denom = eval(&deriv[..l], x_inv);
        if denom == 0 {
            return false;
        }
        let magnitude = mul(GF.0[j % 255], div(eval(&omega[..npar], x_inv), denom));
        block[n - 1 - j] ^= magnitude;
        found += 1;
    }
    found == l && syndromes(block)[..npar].iter().all(|&v| v == 0)
}

/// Format bits: the nearest of the 32 valid words within distance 3 (the BCH code's
/// reach), as (EC bits, mask).
fn correct_format(word: u16) -> Option<(u16, u16)> {
    (0u16..32).find_map(|d| {
        let mut rem = d << 10;
        for bit in (10..15).rev() {
            if rem & (1 << bit) != 0 {
                rem ^= 0x537 << (bit - 10);
            }
        }
        let code = (d << 10) | rem;
        ((code ^ word).count_ones() <= 3).then_some((d >> 3, d & 7))
    })
}

/// Reads the format the way rqrr does: the copy around the top-left finder, else the
/// split copy along the other two.
fn read_format(g: &impl BitGrid) -> Option<(u16, u16)> {
    const XS: [usize; 15] = [8, 8, 8, 8, 8, 8, 8, 8, 7, 5, 4, 3, 2, 1, 0];
    const YS: [usize; 15] = [0, 1, 2, 3, 4, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8];
    let size = g.size();
    let main = (0..15).rev().fold(0u16, |f, i| (f << 1) | u16::from(g.bit(YS[i], XS[i])));
    correct_format(main ^ 0x5412).or_else(|| {
        let side = (0..7).fold(0u16, |f, i| (f << 1) | u16::from(g.bit(size - 1 - i, 8)));
        let side = (0..8).fold(side, |f, i| (f << 1) | u16::from(g.bit(8, size - 8 + i)));
        correct_format(side ^ 0x5412)
    })
}

/// Data module positions (row, column) in reading order, per version.
fn data_positions(version: usize) -> &'static [(u8, u8)] {
    static CACHE: [OnceLock<Vec<(u8, u8)>>; 41] = [const { OnceLock::new() }; 41];
    CACHE[version].get_or_init(|| {
        let size = 17 + 4 * version;
        let v = qrcode::Version::Normal(version as i16);
        // qrcode's map of function patterns leaves out the version information (two
        // 6x3 blocks beside the top-right and bottom-left finders from version 7).
        let version_info = |y: usize, x: usize| version >= 7 && ((y < 6 && x + 11 >= size && x + 8 < size) || (x < 6 && y + 11 >= size && y + 8 < size));
        let free = |y: usize, x: usize| !qrcode::canvas::is_functional(v, size as i16, x as i16, y as i16) && !version_info(y, x);
        let mut out = Vec::new();
        // Two-column zigzag from the bottom right, skipping the vertical timing column.
        let mut right = size - 1;
        let mut upward = true;
        loop {
            for step in 0..size {
                let y = if upward { size - 1 - step } else { step };
                for x in [right, right - 1] {
                    if free(y, x) {
                        out.push((y as u8, x as u8));
                    }
                }
            }
            upward = !upward;
            if right < 3 {
                break;
            }
            right -= 2;
            if right == 6 {
                right = 5;
            }
        }
        out
    })
}

/// Block structure of a (version, EC level): `(blocks, data codewords of the short
/// blocks, short blocks, EC codewords per block, data codewords in all)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    blocks: usize,
    short_data: usize,
    short_blocks: usize,
    pub ec: usize,
    data: usize,
}

fn layout(version: usize, ec: EcLevel) -> Option<Layout> {
    static CACHE: [OnceLock<Option<Layout>>; 41 * 4] = [const { OnceLock::new() }; 41 * 4];
    *CACHE[version * 4 + ec as usize].get_or_init(|| {
        let v = qrcode::Version::Normal(i16::try_from(version).ok()?);
        let ecq = ec.to_qrcode();
        let data = qrcode::bits::Bits::new(v).max_len(ecq).ok()? / 8;
        // Interleave the indices themselves (low and high bytes apart, as indices pass
        // 255): the second entry is where block 1 starts, and block 0's second
        // codeword comes right after the first codeword of every block.
        let lo: Vec<u8> = (0..data).map(|i| i as u8).collect();
        let hi: Vec<u8> = (0..data).map(|i| (i >> 8) as u8).collect();
        let (il, ec_all) = qrcode::ec::construct_codewords(&lo, v, ecq).ok()?;
        let (ih, _) = qrcode::ec::construct_codewords(&hi, v, ecq).ok()?;
        let index: Vec<usize> = il.iter().zip(&ih).map(|(&l, &h)| usize::from(l) | usize::from(h) << 8).collect();
        let (blocks, short_data) = match index.get(1) {
            Some(&1) | None => (1, data),
            Some(&first_of_block_1) => (index.iter().position(|&i| i == 1)?, first_of_block_1),
        };
        let long_blocks = data.checked_sub(blocks * short_data)?;
        Some(Layout { blocks, short_data, short_blocks: blocks.checked_sub(long_blocks)?, ec: ec_all.len() / blocks, data })
    })
}

/// A grid read transposed.
pub(crate) struct Mirrored<'a, G>(pub &'a G);

impl<G: BitGrid> BitGrid for Mirrored<'_, G> {
    fn size(&self) -> usize {
        self.0.size()
    }
    fn bit(&self, y: usize, x: usize) -> bool {
        self.0.bit(x, y)
    }
}

/// A symbol's corrected data codewords and what its format and size said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrected {
    pub version: usize,
    pub ec: EcLevel,
    pub mask: u16,
    /// The data codewords of every block, in logical order, after correction.
    pub data: Vec<u8>,
}

/// Reads and corrects a sampled symbol, as is or else mirrored (a code seen from
/// behind glass, or a transposed sampling).
pub(crate) fn correct<G: BitGrid>(grid: &G) -> Option<Corrected> {
    correct_one(grid).or_else(|| correct_one(&Mirrored(grid)))
}

fn correct_one<G: BitGrid>(g: &G) -> Option<Corrected> {
    let size = g.size();
    if !(21..=177).contains(&size) || !(size - 17).is_multiple_of(4) {
        return None;
    }
    let version = (size - 17) / 4;
    let (ec_bits, mask) = read_format(g)?;
    let ec = EcLevel::from_rqrr(ec_bits);
    let (lay, mut blocks) = blocks(g, version, ec, mask)?;
    let max_errors = (lay.ec - misdecode_guard(version, ec)) / 2;
    let mut data = Vec::with_capacity(lay.data);
    for block in &mut blocks {
        if !correct_block(block, lay.ec, max_errors) {
            return None;
        }
    }
    // Logical order: every block's data codewords, block after block.
    for block in &blocks {
        data.extend_from_slice(&block[..block.len() - lay.ec]);
    }
    Some(Corrected { version, ec, mask, data })
}

/// EC codewords ISO/IEC 18004 (table 9, "p") keeps back from correction in the
/// smallest symbols, where using all of them would too often turn noise into a
/// "valid" code.
fn misdecode_guard(version: usize, ec: EcLevel) -> usize {
    match (version, ec) {
        (1, EcLevel::L) => 3,
        (1, EcLevel::M) | (2, EcLevel::L) => 2,
        (1, EcLevel::Q) | (1, EcLevel::H) | (3, EcLevel::L) => 1,
        _ => 0,
    }
}

/// Whether the data mask `mask` (ISO/IEC 18004 table 10) flips the module at (y, x).
fn mask_bit(mask: u16, y: usize, x: usize) -> bool {
    match mask {
        0 => (y + x) % 2 == 0,
        1 => y % 2 == 0,
        2 => x % 3 == 0,
        3 => (y + x) % 3 == 0,
        4 => (y / 2 + x / 3) % 2 == 0,
        5 => (y * x) % 2 + (y * x) % 3 == 0,
        6 => ((y * x) % 2 + (y * x) % 3) % 2 == 0,
        _ => ((y * x) % 3 + (y + x) % 2) % 2 == 0,
    }
}

/// The symbol's Reed–Solomon blocks as sampled (uncorrected), each its data
/// codewords then its EC codewords, in block order, for a given version and format.
pub(crate) fn blocks<G: BitGrid>(g: &G, version: usize, ec: EcLevel, mask: u16) -> Option<(Layout, Vec<Vec<u8>>)> {
    if g.size() != 17 + 4 * version {
        return None;
    }
    let lay = layout(version, ec)?;
    let positions = data_positions(version);
    let total = lay.data + lay.ec * lay.blocks;
    if positions.len() < total * 8 {
        return None;
    }
    let mut stream = vec![0u8; total];
    for (i, &(y, x)) in positions.iter().take(total * 8).enumerate() {
        let (y, x) = (usize::from(y), usize::from(x));
        let bit = g.bit(y, x) ^ mask_bit(mask, y, x);
        stream[i / 8] |= u8::from(bit) << (7 - i % 8);
    }
    // De-interleave: data column j holds codeword j of every block (the long blocks'
    // extra codeword comes after the common columns), then EC column k likewise.
    let blocks = (0..lay.blocks)
        .map(|b| {
            let mut block = Vec::with_capacity(lay.short_data + 1 + lay.ec);
            block.extend((0..lay.short_data).map(|j| stream[j * lay.blocks + b]));
            if b >= lay.short_blocks {
                block.push(stream[lay.short_data * lay.blocks + b - lay.short_blocks]);
            }
            block.extend((0..lay.ec).map(|k| stream[lay.data + k * lay.blocks + b]));
            block
        })
        .collect();
    Some((lay, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{self, RenderOptions};

    fn grid_of(text: &str, ec_level: EcLevel, flip: impl Fn(usize, usize) -> bool) -> rqrr::SimpleGrid {
        let m = render::matrix(text, &RenderOptions { ec_level, quiet_zone: 0, module_px: 1 }).unwrap();
        rqrr::SimpleGrid::from_func(m.width as usize, |x, y| m.is_dark(x as u32, y as u32) ^ flip(x, y))
    }

    #[test]
    fn clean_codes_of_every_shape_pass_and_rqrr_agrees() {
        // Single block, short+long blocks, version info, many blocks.
        for (len, ec) in [(10, EcLevel::M), (100, EcLevel::Q), (300, EcLevel::L), (900, EcLevel::H), (2000, EcLevel::M)] {
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let g = grid_of(&text, ec, |_, _| false);
            let ours = correct(&g).expect("clean code reads");
            let mut theirs = Vec::new();
            let meta = rqrr::Grid::new(g).decode_to(&mut theirs).unwrap();
            assert_eq!((ours.version, ours.ec, ours.mask), (meta.version.0, EcLevel::from_rqrr(meta.ecc_level), meta.mask), "{len} {ec:?}");
            assert_eq!(crate::stream::parse(&ours.data, ours.version).unwrap().0, theirs);
        }
    }

    #[test]
    fn damage_within_reach_passes_and_beyond_it_fails() {
        let text = "TPL1:0123456789012345678901234567890123456789";
        // A few modules wrong in the data area: still correctable.
        let clean = correct(&grid_of(text, EcLevel::Q, |_, _| false)).unwrap();
        let few = grid_of(text, EcLevel::Q, |x, y| (x, y) == (20, 20) || (x, y) == (15, 24));
        assert_eq!(correct(&few), Some(clean));
        // A quarter of all modules flipped at random: no code.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut noise = std::collections::HashSet::new();
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            noise.insert(((seed % 29) as usize, ((seed >> 8) % 29) as usize));
        }
        let many = grid_of(text, EcLevel::Q, |x, y| x > 8 && y > 8 && noise.contains(&(x, y)));
        assert_eq!(correct(&many), None);
        assert!(rqrr::Grid::new(many).decode().is_err());
    }

    #[test]
    fn mirrored_codes_pass() {
        let g = grid_of("mirror", EcLevel::M, |_, _| false);
        assert_eq!(correct(&Mirrored(&g)), correct(&g));
        assert!(correct(&g).is_some());
    }

    #[test]
    fn block_check_matches_the_error_budget() {
        // RS over a known codeword: data then EC from qrcode's encoder.
        let data: Vec<u8> = (0..20).collect();
        let ec = qrcode::ec::create_error_correction_code(&data, 10);
        let mut block = [data, ec].concat();
        assert!(block_correctable(&block, 10));
        for (k, pos) in [3, 9, 17, 22, 28].iter().enumerate() {
            block[*pos] ^= 0x5a;
            assert!(block_correctable(&block, 10), "{} errors", k + 1);
        }
        block[1] ^= 0x33;
        assert!(!block_correctable(&block, 10), "6 errors exceed 10 EC codewords");
    }

    #[test]
    fn correction_restores_the_codeword_exactly() {
        let data: Vec<u8> = (0..40).map(|i| (i * 37 + 11) as u8).collect();
        let ec = qrcode::ec::create_error_correction_code(&data, 16);
        let good = [data, ec].concat();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for errors in 0..=8 {
            for _ in 0..50 {
                let mut block = good.clone();
                let mut hit = std::collections::HashSet::new();
                while hit.len() < errors {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let pos = (seed % good.len() as u64) as usize;
                    if hit.insert(pos) {
                        block[pos] ^= ((seed >> 16) as u8).max(1);
                    }
                }
                assert!(correct_block(&mut block, 16, 8), "{errors} errors");
                assert_eq!(block, good, "{errors} errors");
            }
        }
        // Within the code's reach but over the caller's limit: refused.
        let mut block = good.clone();
        block[0] ^= 1;
        block[5] ^= 1;
        assert!(!correct_block(&mut block, 16, 1));
    }
}
