//! What the browser-facing endpoints share: cookies, a readable name for the browser
//! and its network, the number challenge, and QR codes as SVG for the pages.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

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

/// "Chrome 131" and "Windows" from a User-Agent. Only the common families: the phone
/// shows this to a person, who needs "the browser I am sitting at", not a parser's detail.
pub fn describe_user_agent(ua: &str) -> (String, String) {
    let version_after = |marker: &str| -> Option<String> {
        let rest = &ua[ua.find(marker)? + marker.len()..];
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
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

/// Whether an address is inside the city's network. The reference server counts
/// loopback and private ranges; a deployment replaces this with its own ranges.
pub fn is_city_network(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_private(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// Where the browser is, in words the phone shows. No geolocation database here: the
/// reference server names the kind of network; a deployment plugs in its own lookup.
pub fn place_of(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(addr) if addr.is_loopback() => "this computer (loopback)".into(),
        Ok(_) if is_city_network(ip) => "Taipei City Government network".into(),
        Ok(_) => "outside the city network".into(),
        Err(_) => "unknown".into(),
    }
}

/// The two-digit number the browser shows and three candidates for the phone, one of
/// them right, in random order. Distinct numbers from 10 to 99.
pub fn number_and_candidates() -> Result<(String, Vec<String>), ApiError> {
    let mut picked: Vec<u8> = Vec::with_capacity(3);
    while picked.len() < 3 {
        // Rejection sampling keeps each number equally likely (256 = 2·90 + 76).
        let [b] = random::bytes::<1>()?;
        if b >= 180 {
            continue;
        }
        let n = 10 + b % 90;
        if !picked.contains(&n) {
            picked.push(n);
        }
    }
    let number = picked[0].to_string();
    // Random position for the right one.
    let [r] = random::bytes::<1>()?;
    picked.swap(0, usize::from(r % 3));
    Ok((number, picked.iter().map(u8::to_string).collect()))
}

/// A QR code as an SVG element, sized by the page. Medium error correction: screens
/// are clean, and a smaller code reads from farther away.
pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::internal(format!("QR: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
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
    }

    #[test]
    fn networks_and_places() {
        assert!(is_city_network("127.0.0.1") && is_city_network("10.1.2.3") && is_city_network("::1"));
        assert!(!is_city_network("8.8.8.8") && !is_city_network("garbage"));
        assert_eq!(place_of("8.8.8.8"), "outside the city network");
        assert_eq!(place_of("192.168.1.5"), "Taipei City Government network");
    }

    #[test]
    fn candidates_are_three_distinct_two_digit_numbers_including_the_answer() {
        for _ in 0..200 {
            let (number, candidates) = number_and_candidates().unwrap();
            assert_eq!(candidates.len(), 3);
            assert!(candidates.contains(&number));
            assert!(candidates.iter().all(|c| c.len() == 2));
            let mut sorted = candidates.clone();
            sorted.dedup();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 3);
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
