//! What the browser-facing endpoints share: cookies, a readable name for the browser
//! and its network, the number challenge, and QR codes as SVG for the pages.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{LazyLock, Mutex};

use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use lru::LruCache;
use qrcode::EcLevel;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::render::{Renderer, svg};

use crate::error::ApiError;
use crate::random;

/// The value of cookie `name`, if the browser sent it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Only this much of a User-Agent is read: real ones are a few hundred bytes, and what
/// is stored from it must stay small whatever a client sends.
const USER_AGENT_READ: usize = 512;
/// Digits of a major version kept.
const VERSION_DIGITS: usize = 4;

/// "Chrome 131" and "Windows" from a User-Agent. Only the common families: the phone
/// shows this to a person, who needs "the browser I am sitting at", not a parser's detail.
/// The result is at most a few dozen characters, whatever the header's size.
pub fn describe_user_agent(ua: &str) -> (String, String) {
    let mut end = ua.len().min(USER_AGENT_READ);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    let ua = &ua[..end];
    let version_after = |marker: &str| -> Option<String> {
        let rest = &ua[ua.find(marker)? + marker.len()..];
        let major: String = rest.chars().take_while(char::is_ascii_digit).take(VERSION_DIGITS).collect();
        (!major.is_empty()).then_some(major)
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Chrome (headless)"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
    ]
    .iter()
    .find_map(|(marker, name)| version_after(marker).map(|v| format!("{name} {v}")))
    .unwrap_or_else(|| if ua.is_empty() { "unknown browser".into() } else { "other browser".into() });
    let os = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map_or("unknown system", |(_, name)| name)
    .to_owned();
    (browser, os)
}

/// Whether an address is inside one of the city's networks (configured CIDRs).
pub fn is_city_network(ip: &str, city: &[IpNet]) -> bool {
    ip.parse::<IpAddr>().is_ok_and(|addr| city.iter().any(|net| net.contains(&addr)))
}

/// Where the browser is, in words the phone shows. No geolocation database here: the
/// reference server names the kind of network; a deployment plugs in its own lookup.
pub fn place_of(ip: &str, city: &[IpNet]) -> String {
    match ip.parse::<IpAddr>() {
        Ok(addr) if addr.is_loopback() => "this computer (loopback)".into(),
        Ok(_) if is_city_network(ip, city) => "Taipei City Government network".into(),
        Ok(_) => "outside the city network".into(),
        Err(_) => "unknown".into(),
    }
}

/// How many digits the browser's number has. The phone types it rather than picking
/// among a few: a person who cannot see the browser (the victim of a QR shown to them
/// by someone else) then guesses right once in 90, and one wrong guess cancels the
/// request, so each guess costs the attacker a fresh request and the victim a fresh
/// prompt. Two digits, as Microsoft Authenticator settled on: easy to read across a
/// desk and to type.
pub const NUMBER_DIGITS: u32 = 2;

/// The number the browser shows, 10 to 99, each equally likely.
pub fn login_number() -> Result<String, ApiError> {
    loop {
        // Rejection sampling keeps each number equally likely (256 = 2·90 + 76).
        let [b] = random::bytes::<1>()?;
        if b < 180 {
            return Ok((10 + b % 90).to_string());
        }
    }
}

/// A name as the browser may show it before the account is entered: first and last
/// character, the rest starred ("王小明" → "王*明", "Chen Li" → "C*****i"). Enough for
/// the person at the browser to tell "that is me" from "that is someone else", not
/// enough to learn a stranger's name from a login QR.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => "*".into(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// A QR code as an SVG element, sized by the page. Medium error correction: screens
/// are clean, and a smaller code reads from farther away.
/// Frames rendered by [`frame_svg`] kept at once: more than the sign-in pages waiting at
/// once on a busy server; a page whose frame fell out only gets it rendered again.
const FRAME_SVGS_KEPT: NonZeroUsize = NonZeroUsize::MIN.saturating_add(255);

/// [`qr_svg`] of a login frame, rendered once per frame. A sign-in page polls twice a
/// second and each frame stays on it for 25 s, and rendering (qrcode's mask search)
/// costs more CPU than the rest of a poll. The SVG depends on the frame's text alone,
/// so one cache serves every server in the process; it holds nothing the poll does not
/// send anyway (a frame is shown on a screen).
pub fn frame_svg(frame: &str) -> Result<String, ApiError> {
    static SVGS: LazyLock<Mutex<LruCache<String, String>>> = LazyLock::new(|| Mutex::new(LruCache::new(FRAME_SVGS_KEPT)));
    let svgs = || SVGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(svg) = svgs().get(frame) {
        return Ok(svg.clone());
    }
    // Rendered outside the lock: two polls of a new frame may both render it, which is
    // cheaper than making every other page's poll wait for one render.
    let svg = qr_svg(frame)?;
    svgs().put(frame.to_owned(), svg.clone());
    Ok(svg)
}

pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let (modules, width) = qr_modules(text)?;
    Ok(Renderer::<svg::Color<'_>>::new(&modules, width, QUIET_ZONE)
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The quiet zone the QR specification asks around a (non-micro) code, in modules.
const QUIET_ZONE: u32 = 4;

/// The mask every code here is drawn with. The specification has the encoder score all
/// eight masks and keep the one with the fewest runs, blocks and finder-like patterns;
/// that search was most of the CPU a rendering takes (eight copies of the code, each
/// scored module by module). It pays for data with long regular stretches. What this
/// server renders — a login frame's random request id and nonce, a meeting frame's
/// HMAC — is random bytes in base64, whose modules are already as irregular as a mask
/// makes them, and a decoder reads the mask from the format bits: any of the eight
/// decodes (`tests::rendered_frames_decode`).
const MASK: MaskPattern = MaskPattern::Checkerboard;

/// A QR code's modules, row by row, and its width: `qrcode`'s own steps for a code of
/// the smallest version that holds `text` at medium error correction, with [`MASK`].
fn qr_modules(text: &str) -> Result<(Vec<qrcode::Color>, usize), ApiError> {
    let qr_error = |e: qrcode::types::QrError| ApiError::internal(format!("QR: {e}"));
    let bits = qrcode::bits::encode_auto(text.as_bytes(), EcLevel::M).map_err(qr_error)?;
    let version = bits.version();
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).map_err(qr_error)?;
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    canvas.apply_mask(MASK);
    let width = usize::try_from(version.width()).map_err(|_| ApiError::internal("QR: version width"))?;
    Ok((canvas.into_colors(), width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_read_as_people_say_them() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(describe_user_agent(chrome), ("Chrome 131".into(), "Windows".into()));
        let edge = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0.2903.86";
        assert_eq!(describe_user_agent(edge).0, "Edge 131");
        let headless = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_user_agent(headless), ("Chrome (headless) 156".into(), "Linux".into()));
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_user_agent(safari), ("Safari 17".into(), "iOS".into()));
        assert_eq!(describe_user_agent(""), ("unknown browser".into(), "unknown system".into()));
        let huge = format!("Chrome/{}", "9".repeat(300_000));
        assert_eq!(describe_user_agent(&huge).0, "Chrome 9999");
        let late = format!("{}Windows", "x".repeat(300_000));
        assert_eq!(describe_user_agent(&late), ("other browser".into(), "unknown system".into()));
    }

    #[test]
    fn city_networks_are_the_configured_cidrs_only() {
        let city: Vec<IpNet> = vec!["10.20.0.0/16".parse().unwrap(), "127.0.0.0/8".parse().unwrap()];
        assert!(is_city_network("127.0.0.1", &city) && is_city_network("10.20.3.4", &city));
        // A private address is not the city's just for being private.
        assert!(!is_city_network("10.1.2.3", &city) && !is_city_network("192.168.1.5", &city));
        assert!(!is_city_network("8.8.8.8", &city) && !is_city_network("garbage", &city));
        assert!(!is_city_network("127.0.0.1", &[]));
        assert_eq!(place_of("8.8.8.8", &city), "outside the city network");
        assert_eq!(place_of("192.168.1.5", &city), "outside the city network");
        assert_eq!(place_of("10.20.9.9", &city), "Taipei City Government network");
    }

    #[test]
    fn login_numbers_are_two_digits_and_cover_the_range() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let n = login_number().unwrap();
            assert_eq!(n.len(), NUMBER_DIGITS as usize);
            seen.insert(n.parse::<u8>().unwrap());
        }
        assert_eq!((seen.first(), seen.last(), seen.len()), (Some(&10), Some(&99), 90));
    }

    #[test]
    fn names_are_masked_but_recognisable() {
        assert_eq!(mask_name("王小明"), "王*明");
        assert_eq!(mask_name("李明"), "李*");
        assert_eq!(mask_name("Chen Li"), "C*****i");
        assert_eq!(mask_name("x"), "*");
        assert_eq!(mask_name(""), "*");
    }

    /// Codes drawn with the fixed mask decode to their text, read back by the QR
    /// library the workspace already carries (rqrr), from a plain grey raster.
    #[test]
    fn rendered_frames_decode() {
        const PX: usize = 3;
        for i in 0..64u8 {
            let frame = taipei_protocol::login::LoginFrame {
                rid: random::bytes::<16>().unwrap(),
                fnonce: random::bytes::<16>().unwrap(),
                expires_at_ms: 1_800_000_000_000 + i64::from(i) * 30_000,
            };
            let text = frame.encode();
            let (modules, width) = qr_modules(&text).unwrap();
            let side = (width + 2 * QUIET_ZONE as usize) * PX;
            let dark = |x: usize, y: usize| {
                let (mx, my) = ((x / PX).checked_sub(QUIET_ZONE as usize), (y / PX).checked_sub(QUIET_ZONE as usize));
                matches!((mx, my), (Some(mx), Some(my)) if mx < width && my < width && modules[my * width + mx] == qrcode::Color::Dark)
            };
            let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| if dark(x, y) { 0 } else { 255 });
            let grids = image.detect_grids();
            assert_eq!(grids.len(), 1, "one code in {text}");
            let (_, decoded) = grids[0].decode().unwrap();
            assert_eq!(decoded, text);
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; tpl_x=secret; tpl_xy=other".parse().unwrap());
        assert_eq!(cookie(&h, "tpl_x"), Some("secret"));
        assert_eq!(cookie(&h, "tpl_xy"), Some("other"));
        assert_eq!(cookie(&h, "tpl"), None);
    }
}

/// Text made safe to place in HTML content or a double-quoted attribute.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
