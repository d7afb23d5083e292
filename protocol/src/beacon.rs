//! BLE beacon advertisements, parsed from the bytes an OS reports: the raw advertising
//! data (AD structures), or a manufacturer-data / service-data entry the OS already cut
//! out (Android's `ScanRecord`, btleplug's `PeripheralProperties`).
//!
//! Formats and the exact byte layouts they are read with:
//!
//! - AD structure (Bluetooth Core Specification, Vol 3, Part C, §11): `len ‖ type ‖
//!   data[len-1]`; type `0xFF` = manufacturer specific data (company id, 2 bytes LE,
//!   first), `0x16` = service data with a 16-bit UUID (UUID, 2 bytes LE, first).
//! - iBeacon (Apple, "Proximity Beacon Specification" R1): manufacturer `0x004C`,
//!   data `0x02 0x15 ‖ proximity UUID[16] ‖ major[2 BE] ‖ minor[2 BE] ‖ measured power
//!   [1, signed dBm at 1 m]`.
//! - AltBeacon (altbeacon-spec, "AltBeacon Protocol Specification v1.0"): any
//!   manufacturer, data `0xBE 0xAC ‖ beacon id[20] ‖ reference RSSI[1, signed dBm at
//!   1 m] ‖ mfg reserved[1]`; the Android Beacon Library reads the 20-byte id as
//!   id1[16] ‖ id2[2 BE] ‖ id3[2 BE].
//! - Eddystone (google/eddystone, protocol-specification.md): service data of UUID
//!   `0xFEAA`, first byte the frame type:
//!   - UID `0x00`: `Tx power at 0 m[1] ‖ namespace[10] ‖ instance[6] ‖ RFU[2]`
//!     (the RFU bytes are absent in early beacons: 17 or 19 bytes both accepted);
//!   - URL `0x10`: `Tx power[1] ‖ scheme[1] ‖ encoded URL[0..=17]` with the scheme
//!     prefix and expansion tables of eddystone-url/README.md;
//!   - TLM `0x20`: version `0x00` (plain): `VBATT[2 BE, mV] ‖ TEMP[2, signed 8.8
//!     fixed point, 0x8000 = none] ‖ ADV_CNT[4 BE] ‖ SEC_CNT[4 BE, 0.1 s]`; version `0x01`
//!     (encrypted, eTLM): `ETLM[12] ‖ SALT[2] ‖ MIC[2]`;
//!   - EID `0x30`: `Tx power[1] ‖ EID[8]`.
//!
//! Everything here is a parser of outside bytes: every input gives a value or a typed
//! [`BeaconError`], never a panic (fuzzed: `fuzz/fuzz_targets/beacon_advert.rs`).

use std::fmt::Write as _;

/// Bluetooth SIG company identifier of Apple (iBeacon).
pub const APPLE: u16 = 0x004C;
/// 16-bit service UUID assigned to Eddystone.
pub const EDDYSTONE_SERVICE: u16 = 0xFEAA;
const AD_MANUFACTURER: u8 = 0xFF;
const AD_SERVICE_DATA_16: u8 = 0x16;

/// Eddystone's Tx power is calibrated at 0 m; the spec puts the 1 m value 41 dB lower.
const EDDYSTONE_0M_TO_1M_DB: i16 = 41;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeaconError {
    /// A length field promises more bytes than there are.
    #[error("truncated advertisement: {0}")]
    Truncated(String),
    /// An Eddystone frame type this parser does not know.
    #[error("unknown Eddystone frame type 0x{0:02x}")]
    UnknownFrame(u8),
    /// Well-formed bytes that are not a beacon of a known format.
    #[error("not a beacon advertisement: {0}")]
    NotABeacon(String),
    /// A beacon format whose fields break its own rules (reserved URL bytes, ...).
    #[error("malformed beacon: {0}")]
    Malformed(String),
}

impl BeaconError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated(_) => "beacon_truncated",
            Self::UnknownFrame(_) => "beacon_unknown_frame",
            Self::NotABeacon(_) => "beacon_not_a_beacon",
            Self::Malformed(_) => "beacon_malformed",
        }
    }
}

/// Plain Eddystone-TLM telemetry (version 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// Battery voltage in mV; 0 = not supported (externally powered).
    pub battery_mv: u16,
    /// Beacon temperature in 1/256 °C; `None` when the beacon reports 0x8000.
    pub temperature_256: Option<i16>,
    pub adv_count: u32,
    /// Time since power-on, in 0.1 s.
    pub uptime_ds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advert {
    IBeacon { uuid: [u8; 16], major: u16, minor: u16, measured_power: i8 },
    AltBeacon { manufacturer: u16, id1: [u8; 16], id2: u16, id3: u16, reference_rssi: i8, reserved: u8 },
    EddystoneUid { tx_power: i8, namespace: [u8; 10], instance: [u8; 6] },
    EddystoneUrl { tx_power: i8, url: String },
    EddystoneTlm(Telemetry),
    /// Encrypted TLM: only the beacon's owner can read it; kept as bytes.
    EddystoneEtlm { etlm: [u8; 12], salt: u16, mic: u16 },
    EddystoneEid { tx_power: i8, eid: [u8; 8] },
}

pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn uuid_text(u: &[u8; 16]) -> String {
    let h = hex(u);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

impl Advert {
    /// The stable identity an office registers, e.g.
    /// `ibeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6:1:2`. Telemetry frames identify
    /// nothing; an EID is `eid:<16 hex>` and only the server can say whose it is.
    pub fn beacon_id(&self) -> Option<String> {
        match self {
            Self::IBeacon { uuid, major, minor, .. } => Some(format!("ibeacon:{}:{major}:{minor}", uuid_text(uuid))),
            Self::AltBeacon { id1, id2, id3, .. } => Some(format!("altbeacon:{}:{id2}:{id3}", uuid_text(id1))),
            Self::EddystoneUid { namespace, instance, .. } => Some(format!("eddystone:{}:{}", hex(namespace), hex(instance))),
            Self::EddystoneUrl { url, .. } => Some(format!("url:{url}")),
            Self::EddystoneEid { eid, .. } => Some(format!("eid:{}", hex(eid))),
            Self::EddystoneTlm(_) | Self::EddystoneEtlm { .. } => None,
        }
    }

    /// The EID in hex, for EID frames.
    pub fn eid_hex(&self) -> Option<String> {
        match self {
            Self::EddystoneEid { eid, .. } => Some(hex(eid)),
            _ => None,
        }
    }

    /// Calibrated RSSI at 1 m (dBm), for the distance estimate.
    pub fn rssi_at_1m(&self) -> Option<i16> {
        match self {
            Self::IBeacon { measured_power, .. } => Some(i16::from(*measured_power)),
            Self::AltBeacon { reference_rssi, .. } => Some(i16::from(*reference_rssi)),
            Self::EddystoneUid { tx_power, .. } | Self::EddystoneUrl { tx_power, .. } | Self::EddystoneEid { tx_power, .. } => {
                Some(i16::from(*tx_power) - EDDYSTONE_0M_TO_1M_DB)
            }
            Self::EddystoneTlm(_) | Self::EddystoneEtlm { .. } => None,
        }
    }
}

/// A cursor that hands out exact-length pieces or a `Truncated` error naming the field.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    fn take<const N: usize>(&mut self, field: &str) -> Result<[u8; N], BeaconError> {
        let (head, rest) = self.bytes.split_at_checked(N).ok_or_else(|| {
            BeaconError::Truncated(format!("{}: {field} needs {N} bytes, {} left", self.what, self.bytes.len()))
        })?;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        self.bytes = rest;
        Ok(out)
    }

    fn u8(&mut self, field: &str) -> Result<u8, BeaconError> {
        Ok(self.take::<1>(field)?[0])
    }

    fn i8(&mut self, field: &str) -> Result<i8, BeaconError> {
        Ok(i8::from_be_bytes(self.take::<1>(field)?))
    }

    fn u16(&mut self, field: &str) -> Result<u16, BeaconError> {
        Ok(u16::from_be_bytes(self.take::<2>(field)?))
    }

    fn u32(&mut self, field: &str) -> Result<u32, BeaconError> {
        Ok(u32::from_be_bytes(self.take::<4>(field)?))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Raw advertising data (a sequence of AD structures, as in the HCI report without its
/// header): the first beacon in it. A zero length byte ends the significant part
/// (Core Spec Vol 3 Part C §11: the rest is padding).
pub fn parse_ad(bytes: &[u8]) -> Result<Advert, BeaconError> {
    let mut rest = bytes;
    let mut last_refusal = None;
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            break;
        }
        let len = usize::from(len);
        let (structure, after) = tail
            .split_at_checked(len)
            .ok_or_else(|| BeaconError::Truncated(format!("an AD structure promises {len} bytes, {} left", tail.len())))?;
        rest = after;
        let (&ad_type, data) = structure.split_first().ok_or_else(|| BeaconError::Truncated("empty AD structure".into()))?;
        let parsed = match ad_type {
            AD_MANUFACTURER => {
                let mut r = Reader::new(data, "manufacturer data");
                let company = u16::from_le_bytes(r.take::<2>("company id")?);
                parse_manufacturer_data(company, r.rest())
            }
            AD_SERVICE_DATA_16 => {
                let mut r = Reader::new(data, "service data");
                let uuid = u16::from_le_bytes(r.take::<2>("service UUID")?);
                parse_service_data(uuid, r.rest())
            }
            _ => continue,
        };
        match parsed {
            Ok(advert) => return Ok(advert),
            // A truncated or malformed beacon is worth reporting as such; keep looking
            // in case another structure holds a good one.
            Err(e) => last_refusal = Some(e),
        }
    }
    Err(last_refusal.unwrap_or_else(|| BeaconError::NotABeacon("no manufacturer or service data".into())))
}

/// One manufacturer-specific data entry: `company` and the bytes after it.
pub fn parse_manufacturer_data(company: u16, data: &[u8]) -> Result<Advert, BeaconError> {
    match data {
        [0x02, 0x15, ..] if company == APPLE => {
            let mut r = Reader::new(&data[2..], "iBeacon");
            let advert = Advert::IBeacon {
                uuid: r.take("proximity UUID")?,
                major: r.u16("major")?,
                minor: r.u16("minor")?,
                measured_power: r.i8("measured power")?,
            };
            Ok(advert)
        }
        [0xBE, 0xAC, ..] => {
            let mut r = Reader::new(&data[2..], "AltBeacon");
            Ok(Advert::AltBeacon {
                manufacturer: company,
                id1: r.take("id1")?,
                id2: r.u16("id2")?,
                id3: r.u16("id3")?,
                reference_rssi: r.i8("reference RSSI")?,
                reserved: r.u8("mfg reserved")?,
            })
        }
        // Shorter than either beacon code: a cut-off beacon, not some other format.
        [] | [0x02] | [0xBE] => Err(BeaconError::Truncated(format!("manufacturer 0x{company:04x} data of {} bytes", data.len()))),
        _ => Err(BeaconError::NotABeacon(format!("manufacturer 0x{company:04x} data is neither iBeacon nor AltBeacon"))),
    }
}

/// One 16-bit-UUID service data entry: `uuid` and the bytes after it.
pub fn parse_service_data(uuid: u16, data: &[u8]) -> Result<Advert, BeaconError> {
    if uuid != EDDYSTONE_SERVICE {
        return Err(BeaconError::NotABeacon(format!("service 0x{uuid:04x} is not Eddystone")));
    }
    let mut r = Reader::new(data, "Eddystone");
    match r.u8("frame type")? {
        0x00 => {
            let mut r = Reader::new(r.rest(), "Eddystone-UID");
            let tx_power = r.i8("Tx power")?;
            let namespace = r.take("namespace")?;
            let instance = r.take("instance")?;
            // 0 or 2 RFU bytes; anything else is not this frame.
            if !matches!(r.rest().len(), 0 | 2) {
                return Err(BeaconError::Malformed(format!("Eddystone-UID has {} bytes after the instance", r.rest().len())));
            }
            Ok(Advert::EddystoneUid { tx_power, namespace, instance })
        }
        0x10 => {
            let mut r = Reader::new(r.rest(), "Eddystone-URL");
            let tx_power = r.i8("Tx power")?;
            let scheme = r.u8("URL scheme")?;
            Ok(Advert::EddystoneUrl { tx_power, url: decode_url(scheme, r.rest())? })
        }
        0x20 => {
            let mut r = Reader::new(r.rest(), "Eddystone-TLM");
            match r.u8("TLM version")? {
                0x00 => {
                    let battery_mv = r.u16("VBATT")?;
                    let temp = r.take::<2>("TEMP")?;
                    let adv_count = r.u32("ADV_CNT")?;
                    let uptime_ds = r.u32("SEC_CNT")?;
                    // 0x8000 is the spec's "not supported" marker.
                    let temperature_256 = (temp != [0x80, 0x00]).then(|| i16::from_be_bytes(temp));
                    Ok(Advert::EddystoneTlm(Telemetry { battery_mv, temperature_256, adv_count, uptime_ds }))
                }
                0x01 => Ok(Advert::EddystoneEtlm { etlm: r.take("ETLM")?, salt: r.u16("SALT")?, mic: r.u16("MIC")? }),
                v => Err(BeaconError::Malformed(format!("Eddystone-TLM version 0x{v:02x}"))),
            }
        }
        0x30 => {
            let mut r = Reader::new(r.rest(), "Eddystone-EID");
            Ok(Advert::EddystoneEid { tx_power: r.i8("Tx power")?, eid: r.take("EID")? })
        }
        other => Err(BeaconError::UnknownFrame(other)),
    }
}

/// Eddystone-URL scheme prefixes (eddystone-url README, "URL Scheme Prefix").
const SCHEMES: [&str; 4] = ["http://www.", "https://www.", "http://", "https://"];
/// Eddystone-URL expansion codes 0x00..=0x0d ("HTTP URL encoding").
const EXPANSIONS: [&str; 14] =
    [".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/", ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov"];
/// The encoded URL is at most 17 bytes (the frame's 20 minus type, power and scheme).
const MAX_URL_BYTES: usize = 17;

fn decode_url(scheme: u8, encoded: &[u8]) -> Result<String, BeaconError> {
    let prefix = SCHEMES
        .get(usize::from(scheme))
        .ok_or_else(|| BeaconError::Malformed(format!("Eddystone-URL scheme 0x{scheme:02x} is reserved")))?;
    if encoded.len() > MAX_URL_BYTES {
        return Err(BeaconError::Malformed(format!("Eddystone-URL of {} bytes (at most {MAX_URL_BYTES})", encoded.len())));
    }
    let mut url = String::from(*prefix);
    for &b in encoded {
        match b {
            0x00..=0x0d => url.push_str(EXPANSIONS[usize::from(b)]),
            // Graphic ASCII only; 0x0e..=0x20 and 0x7f..=0xff are reserved.
            0x21..=0x7e => url.push(char::from(b)),
            _ => return Err(BeaconError::Malformed(format!("Eddystone-URL byte 0x{b:02x} is reserved"))),
        }
    }
    Ok(url)
}

/// The inverse of [`parse_ad`] for one beacon: the AD bytes a beacon of this kind
/// would send (flags structure first). Simulators and tests use it.
pub fn encode_ad(advert: &Advert) -> Vec<u8> {
    let mut payload = Vec::with_capacity(31);
    let (ad_type, head) = match advert {
        Advert::IBeacon { uuid, major, minor, measured_power } => {
            payload.extend_from_slice(&[0x02, 0x15]);
            payload.extend_from_slice(uuid);
            payload.extend_from_slice(&major.to_be_bytes());
            payload.extend_from_slice(&minor.to_be_bytes());
            payload.extend_from_slice(&measured_power.to_be_bytes());
            (AD_MANUFACTURER, APPLE)
        }
        Advert::AltBeacon { manufacturer, id1, id2, id3, reference_rssi, reserved } => {
            payload.extend_from_slice(&[0xBE, 0xAC]);
            payload.extend_from_slice(id1);
            payload.extend_from_slice(&id2.to_be_bytes());
            payload.extend_from_slice(&id3.to_be_bytes());
            payload.extend_from_slice(&reference_rssi.to_be_bytes());
            payload.push(*reserved);
            (AD_MANUFACTURER, *manufacturer)
        }
        Advert::EddystoneUid { tx_power, namespace, instance } => {
            payload.push(0x00);
            payload.extend_from_slice(&tx_power.to_be_bytes());
            payload.extend_from_slice(namespace);
            payload.extend_from_slice(instance);
            payload.extend_from_slice(&[0, 0]);
            (AD_SERVICE_DATA_16, EDDYSTONE_SERVICE)
        }
        Advert::EddystoneUrl { tx_power, url } => {
            payload.push(0x10);
            payload.extend_from_slice(&tx_power.to_be_bytes());
            payload.extend_from_slice(&encode_url(url));
            (AD_SERVICE_DATA_16, EDDYSTONE_SERVICE)
        }
        Advert::EddystoneTlm(t) => {
            payload.extend_from_slice(&[0x20, 0x00]);
            payload.extend_from_slice(&t.battery_mv.to_be_bytes());
            payload.extend_from_slice(&t.temperature_256.map_or([0x80, 0x00], i16::to_be_bytes));
            payload.extend_from_slice(&t.adv_count.to_be_bytes());
            payload.extend_from_slice(&t.uptime_ds.to_be_bytes());
            (AD_SERVICE_DATA_16, EDDYSTONE_SERVICE)
        }
        Advert::EddystoneEtlm { etlm, salt, mic } => {
            payload.extend_from_slice(&[0x20, 0x01]);
            payload.extend_from_slice(etlm);
            payload.extend_from_slice(&salt.to_be_bytes());
            payload.extend_from_slice(&mic.to_be_bytes());
            (AD_SERVICE_DATA_16, EDDYSTONE_SERVICE)
        }
        Advert::EddystoneEid { tx_power, eid } => {
            payload.push(0x30);
            payload.extend_from_slice(&tx_power.to_be_bytes());
            payload.extend_from_slice(eid);
            (AD_SERVICE_DATA_16, EDDYSTONE_SERVICE)
        }
    };
    let mut out = vec![0x02, 0x01, 0x06];
    if ad_type == AD_SERVICE_DATA_16 {
        // Complete list of 16-bit service UUIDs: Eddystone, as the spec requires.
        out.extend_from_slice(&[0x03, 0x03, 0xAA, 0xFE]);
    }
    // Every payload above is at most 27 bytes, so the length fits in one byte.
    out.push(u8::try_from(payload.len() + 3).unwrap_or(u8::MAX));
    out.push(ad_type);
    out.extend_from_slice(&head.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Best-effort Eddystone-URL encoding: scheme prefix and the longest expansions.
fn encode_url(url: &str) -> Vec<u8> {
    let (scheme, mut rest) = SCHEMES
        .iter()
        .enumerate()
        .find_map(|(i, p)| url.strip_prefix(p).map(|r| (i, r)))
        .unwrap_or((3, url));
    let mut out = vec![u8::try_from(scheme).unwrap_or(3)];
    while !rest.is_empty() {
        // Longest expansion first, so ".com/" wins over ".com".
        let hit = EXPANSIONS.iter().enumerate().filter(|(_, e)| rest.starts_with(**e)).max_by_key(|(_, e)| e.len());
        if let Some((code, e)) = hit {
            out.push(u8::try_from(code).unwrap_or(0));
            rest = &rest[e.len()..];
        } else {
            let c = rest.as_bytes()[0];
            out.push(c);
            rest = &rest[1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// AltBeacon library, BeaconParserTest.testRecognizeBeacon (vector in the shared
    /// beacons README).
    #[test]
    fn altbeacon_vector_from_the_android_beacon_library() {
        let advert = parse_ad(&unhex("02011a1bff1801beac2f234454cf6d4a0fadf2f4911ba9ffa600010002c509")).unwrap();
        assert_eq!(
            advert,
            Advert::AltBeacon {
                manufacturer: 0x0118,
                id1: unhex("2f234454cf6d4a0fadf2f4911ba9ffa6").try_into().unwrap(),
                id2: 1,
                id3: 2,
                reference_rssi: -59,
                reserved: 0x09,
            }
        );
        assert_eq!(advert.beacon_id().unwrap(), "altbeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6:1:2");
        assert_eq!(advert.rssi_at_1m(), Some(-59));
    }

    /// GattBeaconTest: Eddystone-UID with the legacy 0x15 length (no RFU bytes).
    #[test]
    fn eddystone_uid_vector_without_rfu_bytes() {
        let advert = parse_ad(&unhex("0201060303aafe1516aafe00e700010203040506070809010203040506")).unwrap();
        assert_eq!(
            advert,
            Advert::EddystoneUid {
                tx_power: -25,
                namespace: unhex("00010203040506070809").try_into().unwrap(),
                instance: unhex("010203040506").try_into().unwrap(),
            }
        );
        assert_eq!(advert.rssi_at_1m(), Some(-66));
    }

    #[test]
    fn truncated_pdus_from_the_library_tests_are_refused() {
        // Length 0x16 promised, bytes cut after the beacon code.
        let cut = unhex("02011a16ff1801beac2f234454cf6d4a0fadf2f4911ba9");
        assert!(matches!(parse_ad(&cut), Err(BeaconError::Truncated(_))), "{:?}", parse_ad(&cut));
        assert!(matches!(parse_ad(&unhex("02010604ffe000be")), Err(BeaconError::Truncated(_))));
        // Complete structure, but the AltBeacon payload ends early.
        assert!(matches!(parse_manufacturer_data(0x0118, &unhex("beac2f2344")), Err(BeaconError::Truncated(_))));
        assert!(matches!(parse_ad(&[0x05, 0xff, 0x4c]), Err(BeaconError::Truncated(_))));
        assert!(matches!(parse_ad(&[0x01, 0xff]), Err(BeaconError::Truncated(_))));
    }

    #[test]
    fn ibeacon_round_trips_and_foreign_data_is_not_a_beacon() {
        let advert = Advert::IBeacon { uuid: [0xE2; 16], major: 0x1234, minor: 7, measured_power: -59 };
        let bytes = encode_ad(&advert);
        // Apple's layout: 0x1A 0xFF 0x4C 0x00 0x02 0x15 …
        assert_eq!(&bytes[3..9], &[0x1a, 0xff, 0x4c, 0x00, 0x02, 0x15]);
        assert_eq!(parse_ad(&bytes).unwrap(), advert);
        assert!(matches!(parse_manufacturer_data(0x0006, &[1, 2, 3, 4]), Err(BeaconError::NotABeacon(_))));
        // 0x02 0x15 under another company is not an iBeacon.
        assert!(matches!(parse_manufacturer_data(0x0006, &[0x02, 0x15, 0, 0]), Err(BeaconError::NotABeacon(_))));
        assert!(matches!(parse_ad(&unhex("020106")), Err(BeaconError::NotABeacon(_))));
        assert!(matches!(parse_ad(&[]), Err(BeaconError::NotABeacon(_))));
    }

    /// eddystone-url README example: "https://www.google.com/" is 0x01 "google" 0x00.
    #[test]
    fn eddystone_url_uses_the_spec_tables() {
        let advert = parse_service_data(0xFEAA, &unhex("10eb01676f6f676c6500")).unwrap();
        assert_eq!(advert, Advert::EddystoneUrl { tx_power: -21, url: "https://www.google.com/".into() });
        assert_eq!(parse_ad(&encode_ad(&advert)).unwrap(), advert);
        assert_eq!(encode_url("https://www.google.com/"), unhex("01676f6f676c6500"));
        assert!(matches!(parse_service_data(0xFEAA, &unhex("10eb04")), Err(BeaconError::Malformed(_))));
        assert!(matches!(parse_service_data(0xFEAA, &unhex("10eb0020")), Err(BeaconError::Malformed(_))));
        assert!(matches!(parse_service_data(0xFEAA, &[0x10, 0xeb, 0x03, b'a', 0xff]), Err(BeaconError::Malformed(_))));
        assert!(matches!(parse_service_data(0xFEAA, &[0x10, 0xeb, 0x03].iter().copied().chain([b'a'; 18]).collect::<Vec<_>>()), Err(BeaconError::Malformed(_))));
    }

    #[test]
    fn eddystone_tlm_eid_and_unknown_frames() {
        // TLM: 3000 mV, 25.5 °C (0x1980), 1000 adverts, 36000 ds.
        let tlm = parse_service_data(0xFEAA, &unhex("20000bb81980000003e800008ca0")).unwrap();
        assert_eq!(tlm, Advert::EddystoneTlm(Telemetry { battery_mv: 3000, temperature_256: Some(0x1980), adv_count: 1000, uptime_ds: 36000 }));
        assert_eq!(tlm.beacon_id(), None);
        let no_temp = parse_service_data(0xFEAA, &unhex("2000000080000000000100000001")).unwrap();
        assert!(matches!(no_temp, Advert::EddystoneTlm(Telemetry { temperature_256: None, battery_mv: 0, .. })));
        let etlm = parse_service_data(0xFEAA, &unhex("2001000102030405060708090a0b12345678")).unwrap();
        assert!(matches!(etlm, Advert::EddystoneEtlm { salt: 0x1234, mic: 0x5678, .. }));
        assert!(matches!(parse_service_data(0xFEAA, &unhex("2002")), Err(BeaconError::Malformed(_))));
        assert!(matches!(parse_service_data(0xFEAA, &unhex("20000bb8")), Err(BeaconError::Truncated(_))));

        let eid = parse_service_data(0xFEAA, &unhex("30eea9b76a71c5f89290")).unwrap();
        assert_eq!(eid.eid_hex().unwrap(), "a9b76a71c5f89290");
        assert_eq!(eid.beacon_id().unwrap(), "eid:a9b76a71c5f89290");
        assert_eq!(parse_ad(&encode_ad(&eid)).unwrap(), eid);
        assert!(matches!(parse_service_data(0xFEAA, &unhex("30eea9b76a")), Err(BeaconError::Truncated(_))));
        assert_eq!(parse_service_data(0xFEAA, &unhex("40")), Err(BeaconError::UnknownFrame(0x40)));
        assert!(matches!(parse_service_data(0xFEAA, &[]), Err(BeaconError::Truncated(_))));
        assert!(matches!(parse_service_data(0x180F, &[0x30]), Err(BeaconError::NotABeacon(_))));
    }

    #[test]
    fn every_prefix_of_a_good_advert_is_refused_without_panic() {
        let adverts = [
            Advert::IBeacon { uuid: [1; 16], major: 1, minor: 2, measured_power: -60 },
            Advert::EddystoneUid { tx_power: -20, namespace: [3; 10], instance: [4; 6] },
            Advert::EddystoneEid { tx_power: -20, eid: [5; 8] },
        ];
        for advert in adverts {
            let bytes = encode_ad(&advert);
            for cut in 0..bytes.len() {
                assert!(parse_ad(&bytes[..cut]).is_err(), "{advert:?} cut at {cut}");
            }
            assert_eq!(parse_ad(&bytes).unwrap(), advert);
        }
    }
}
