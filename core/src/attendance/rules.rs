//! The phone's own clock-in/clock-out decision, so a punch is recorded offline at the
//! moment of the transition. The server applies the same rules again (and its own
//! anti-spoofing checks) when the punch arrives.
//!
//! - First in: entering records an `in` only if today (the office's working day in
//!   Asia/Taipei) has no `in` yet; coming back from lunch is not a new clock-in.
//! - Last out: every exit records an `out`; the day's report takes the last one.
//! - Minimum interval: a punch of the same kind within `min_interval_ms` of the
//!   previous one is not recorded (a phone flapping at the edge of the range).

use taipei_protocol::attendance::PunchKind;

use super::presence::Transition;

/// A punch already on the phone, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earlier {
    pub kind: PunchKind,
    pub time_ms: i64,
    pub workday: i64,
    /// Refused by the server: it does not count.
    pub rejected: bool,
}

/// What to record for `transition` at server time `now_ms` (working day `today`), given
/// the phone's recent punches.
pub fn decide(transition: Transition, today: i64, now_ms: i64, min_interval_ms: i64, earlier: &[Earlier]) -> Option<PunchKind> {
    let kind = match transition {
        Transition::Entered => PunchKind::In,
        Transition::Exited => PunchKind::Out,
    };
    let live = earlier.iter().filter(|e| !e.rejected);
    let mut same_kind = live.filter(|e| e.kind == kind);
    if kind == PunchKind::In && same_kind.clone().any(|e| e.workday == today) {
        return None;
    }
    // abs_diff: times from a hostile server or a broken clock must not overflow.
    if same_kind.any(|e| now_ms.abs_diff(e.time_ms) < min_interval_ms.max(0).unsigned_abs()) {
        return None;
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: PunchKind, time_ms: i64, workday: i64) -> Earlier {
        Earlier { kind, time_ms, workday, rejected: false }
    }

    #[test]
    fn first_in_last_out_and_debounce() {
        let day = 20_000;
        assert_eq!(decide(Transition::Entered, day, 1_000, 60_000, &[]), Some(PunchKind::In));
        let morning = [e(PunchKind::In, 1_000, day)];
        // Back from lunch: no second clock-in today.
        assert_eq!(decide(Transition::Entered, day, 5_000_000, 60_000, &morning), None);
        // Tomorrow is a new day.
        assert_eq!(decide(Transition::Entered, day + 1, 90_000_000, 60_000, &morning), Some(PunchKind::In));
        // Every exit is an out, unless one was just recorded.
        assert_eq!(decide(Transition::Exited, day, 3_000_000, 60_000, &morning), Some(PunchKind::Out));
        let out = [e(PunchKind::In, 1_000, day), e(PunchKind::Out, 3_000_000, day)];
        assert_eq!(decide(Transition::Exited, day, 3_030_000, 60_000, &out), None);
        assert_eq!(decide(Transition::Exited, day, 9_000_000, 60_000, &out), Some(PunchKind::Out));
        // A refused clock-in does not count as today's.
        let refused = [Earlier { rejected: true, ..e(PunchKind::In, 1_000, day) }];
        assert_eq!(decide(Transition::Entered, day, 5_000_000, 60_000, &refused), Some(PunchKind::In));
    }

    #[test]
    fn extreme_times_do_not_overflow_the_debounce() {
        let far = [e(PunchKind::Out, i64::MIN, 0), e(PunchKind::Out, i64::MAX, 0)];
        assert_eq!(decide(Transition::Exited, 1, i64::MAX, 60_000, &far), None, "i64::MAX is within the interval of itself");
        assert_eq!(decide(Transition::Exited, 1, 0, 60_000, &far), Some(PunchKind::Out));
        assert_eq!(decide(Transition::Exited, 1, 0, i64::MIN, &far), Some(PunchKind::Out), "a negative interval means none");
    }
}
