//! The shapes the server accepts from a phone: every length, charset and range it
//! checks, as one list both ends use. The server refuses what breaks one of these; the
//! core refuses it at the call, before anything is signed or queued, so nothing the
//! server would refuse ever waits in a phone's outbox to die there later.

use crate::attendance::{Evidence, Punch};

/// What a value may look like besides its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Any text.
    Any,
    /// `[a-z0-9_]`: machine words (a report's kind).
    Word,
}

impl Charset {
    fn admits(self, s: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Word => s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Any => "",
            Self::Word => " of lower-case letters, digits and _",
        }
    }
}

/// A text field's rule: a count of characters (Unicode scalar values) and a charset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimit {
    pub field: &'static str,
    pub min: usize,
    pub max: usize,
    pub charset: Charset,
    /// Counted after trimming white space (a reason of spaces is no reason).
    pub trimmed: bool,
}

const fn text(field: &'static str, min: usize, max: usize) -> TextLimit {
    TextLimit { field, min, max, charset: Charset::Any, trimmed: false }
}

/// A value outside its limit: which field, and what it must be (words for people).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {rule}")]
pub struct LimitError {
    pub field: &'static str,
    pub rule: String,
}

impl TextLimit {
    pub fn check(&self, value: &str) -> Result<(), LimitError> {
        let counted = if self.trimmed { value.trim() } else { value };
        let n = counted.chars().count();
        if n < self.min || n > self.max || !self.charset.admits(value) {
            return Err(LimitError {
                field: self.field,
                rule: format!("{} to {} characters{}, got {n}", self.min, self.max, self.charset.describe()),
            });
        }
        Ok(())
    }
}

/// `NewReport.kind`.
pub const REPORT_KIND: TextLimit = TextLimit { charset: Charset::Word, ..text("kind", 1, 32) };
/// `NewReport.text`.
pub const REPORT_TEXT: TextLimit = text("text", 1, 4_000);
/// `RegisterDevice.device_name`, shown in the person's device list.
pub const DEVICE_NAME: TextLimit = text("device_name", 1, 100);
/// `Punch.punch_id`.
pub const PUNCH_ID: TextLimit = text("punch_id", 1, 64);
/// `Punch.office_id` (and an office's id wherever the phone names one).
pub const OFFICE_ID: TextLimit = text("office_id", 1, 64);
/// Each of `Evidence.beacon_ids` and `Evidence.eids`.
pub const EVIDENCE_ID: TextLimit = text("evidence id", 1, 200);
/// At most this many beacon ids, and as many EIDs, in one punch's evidence.
pub const MAX_EVIDENCE_ITEMS: usize = 32;
/// `Evidence.network`: the Wi-Fi network name.
pub const NETWORK: TextLimit = text("network", 1, 64);
/// `Punch.manual_reason`: why there was no beacon.
pub const MANUAL_REASON: TextLimit = TextLimit { trimmed: true, ..text("manual_reason", 1, 500) };
/// `NewPickupCode.ttl_secs`, when given.
pub const PICKUP_TTL_SECS: std::ops::RangeInclusive<u32> = 1..=crate::wallet::MAX_PICKUP_TTL_SECS;

/// A punch's evidence: counts and each id.
pub fn check_evidence(ev: &Evidence) -> Result<(), LimitError> {
    if ev.beacon_ids.len() > MAX_EVIDENCE_ITEMS || ev.eids.len() > MAX_EVIDENCE_ITEMS {
        return Err(LimitError {
            field: "evidence",
            rule: format!("at most {MAX_EVIDENCE_ITEMS} beacon ids and {MAX_EVIDENCE_ITEMS} EIDs"),
        });
    }
    for id in ev.beacon_ids.iter().chain(&ev.eids) {
        EVIDENCE_ID.check(id)?;
    }
    if let Some(network) = &ev.network {
        NETWORK.check(network)?;
    }
    Ok(())
}

/// Every shape rule of a punch (its judgement — times, beacons — is the server's).
pub fn check_punch(p: &Punch) -> Result<(), LimitError> {
    PUNCH_ID.check(&p.punch_id)?;
    OFFICE_ID.check(&p.office_id)?;
    if let Some(reason) = &p.manual_reason {
        MANUAL_REASON.check(reason)?;
    }
    check_evidence(&p.evidence)
}

/// A pickup code's requested lifetime.
pub fn check_pickup_ttl(ttl_secs: Option<u32>) -> Result<(), LimitError> {
    match ttl_secs {
        Some(t) if !PICKUP_TTL_SECS.contains(&t) => Err(LimitError {
            field: "ttl_secs",
            rule: format!("{} to {} seconds, got {t}", PICKUP_TTL_SECS.start(), PICKUP_TTL_SECS.end()),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each rule, at and past its edges.
    #[test]
    fn every_text_limit_takes_its_edges_and_refuses_past_them() {
        let table: [(&TextLimit, &str); 9] = [
            (&REPORT_KIND, "a"),
            (&REPORT_TEXT, "字"),
            (&DEVICE_NAME, "é"),
            (&PUNCH_ID, "p"),
            (&OFFICE_ID, "o"),
            (&EVIDENCE_ID, "e"),
            (&NETWORK, "n"),
            (&MANUAL_REASON, "r"),
            (&MANUAL_REASON, "理"),
        ];
        for (limit, unit) in table {
            assert!(limit.check(&unit.repeat(limit.min)).is_ok(), "{} at its minimum", limit.field);
            assert!(limit.check(&unit.repeat(limit.max)).is_ok(), "{} at its maximum (characters, not bytes)", limit.field);
            let over = limit.check(&unit.repeat(limit.max + 1)).unwrap_err();
            assert_eq!(over.field, limit.field);
            assert!(limit.check("").is_err(), "{} empty", limit.field);
        }
        assert!(REPORT_KIND.check("Bug").is_err(), "upper case");
        assert!(REPORT_KIND.check("bug report").is_err(), "a space");
        assert!(REPORT_KIND.check("suspicious_login_2").is_ok());
        assert!(MANUAL_REASON.check("   ").is_err(), "only spaces");
        assert_eq!(
            REPORT_KIND.check("Bug").unwrap_err().to_string(),
            "kind must be 1 to 32 characters of lower-case letters, digits and _, got 3"
        );
    }

    #[test]
    fn evidence_and_ttl_ranges() {
        let ev = |n: usize| Evidence {
            beacon_ids: vec!["b".into(); n],
            eids: Vec::new(),
            sightings: 1,
            rssi_max_dbm: -60,
            rssi_mean_dbm: -60,
            distance_dm: 10,
            network: None,
            location: None,
        };
        assert!(check_evidence(&ev(MAX_EVIDENCE_ITEMS)).is_ok());
        assert_eq!(check_evidence(&ev(MAX_EVIDENCE_ITEMS + 1)).unwrap_err().field, "evidence");
        let long_network = Evidence { network: Some("w".repeat(65)), ..ev(1) };
        assert_eq!(check_evidence(&long_network).unwrap_err().field, "network");
        for ok in [None, Some(1), Some(crate::wallet::MAX_PICKUP_TTL_SECS)] {
            assert!(check_pickup_ttl(ok).is_ok(), "{ok:?}");
        }
        for bad in [Some(0), Some(crate::wallet::MAX_PICKUP_TTL_SECS + 1)] {
            assert_eq!(check_pickup_ttl(bad).unwrap_err().field, "ttl_secs");
        }
    }
}
