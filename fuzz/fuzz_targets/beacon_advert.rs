//! Arbitrary bytes as BLE advertising data, manufacturer data and Eddystone service
//! data: the parsers must refuse or parse, never panic, and whatever parses must
//! re-encode to an advert that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taipei_protocol::beacon::{encode_ad, parse_ad, parse_manufacturer_data, parse_service_data};

fuzz_target!(|data: &[u8]| {
    let mut parsed = Vec::new();
    parsed.extend(parse_ad(data).ok());
    if let [a, b, rest @ ..] = data {
        parsed.extend(parse_manufacturer_data(u16::from_le_bytes([*a, *b]), rest).ok());
    }
    parsed.extend(parse_service_data(0xFEAA, data).ok());
    for advert in parsed {
        let _ = advert.beacon_id();
        let _ = advert.rssi_at_1m();
        assert_eq!(parse_ad(&encode_ad(&advert)).as_ref(), Ok(&advert));
    }
});
