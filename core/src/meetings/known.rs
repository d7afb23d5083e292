//! The meetings this phone was shown (`meetings_known`) and the day's view of them with
//! the sign-ins (`meetings_sign_in`), both tables of this module.

use rusqlite::{Connection, Transaction, params};
use taipei_protocol::meeting::MeetingInfo;

use super::{KnownMeeting, MeetingsDay};
use crate::store::StoreError;
use crate::store::seal::{DataKey, SealContext};

fn ctx(mid: &str) -> SealContext<'_> {
    SealContext { table: "meetings_known", column: "info", row: mid }
}

/// Keeps (or refreshes) a meeting as the server described it.
pub(super) fn put(tx: &Transaction<'_>, key: &DataKey, info: &MeetingInfo, now_ms: i64) -> Result<(), StoreError> {
    let text = serde_json::to_vec(info).map_err(|e| StoreError::BadRow(e.to_string()))?;
    tx.execute(
        "INSERT INTO meetings_known (mid, starts_at_ms, ends_at_ms, info, seen_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (mid) DO UPDATE SET starts_at_ms = ?2, ends_at_ms = ?3, info = ?4, seen_at_ms = ?5",
        params![info.mid, info.starts_at_ms, info.ends_at_ms, key.seal(ctx(&info.mid), &text)?, now_ms],
    )?;
    Ok(())
}

pub(super) fn day(conn: &Connection, key: &DataKey, from_ms: i64, to_ms: i64) -> Result<MeetingsDay, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.mid, k.info,
                (SELECT s.state FROM meetings_sign_in s WHERE s.mid = k.mid ORDER BY s.signed_at_ms DESC LIMIT 1)
         FROM meetings_known k WHERE k.starts_at_ms >= ?1 AND k.starts_at_ms < ?2 ORDER BY k.starts_at_ms, k.mid",
    )?;
    let rows = stmt.query_map(params![from_ms, to_ms], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?)))?;
    let mut meetings = Vec::new();
    for row in rows {
        let (mid, sealed, sign_in) = row?;
        let info = serde_json::from_slice(&key.unseal(ctx(&mid), &sealed)?).map_err(|e| StoreError::BadRow(e.to_string()))?;
        meetings.push(KnownMeeting { info, sign_in });
    }
    let (sign_ins, pending) = conn.query_row(
        "SELECT count(*), coalesce(sum(state = 'queued'), 0) FROM meetings_sign_in WHERE signed_at_ms >= ?1 AND signed_at_ms < ?2",
        params![from_ms, to_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(MeetingsDay { meetings, sign_ins, pending })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::FileSecretStore;
    use crate::store::Store;

    fn meeting(mid: &str, starts: i64) -> MeetingInfo {
        MeetingInfo {
            mid: mid.into(),
            title: format!("會議 {mid}"),
            room: "801".into(),
            organizer: "秘書處".into(),
            starts_at_ms: starts,
            ends_at_ms: starts + 3_600_000,
            signed_in_at_ms: None,
        }
    }

    #[test]
    fn a_day_lists_the_meetings_starting_in_it_with_their_sign_ins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db"), &FileSecretStore::new(dir.path().join("s")).unwrap(), "k").unwrap();
        let (from, to) = (1_000_000, 2_000_000);
        store
            .write(|tx| {
                for m in [meeting("before", from - 1), meeting("late", to - 1), meeting("first", from), meeting("after", to)] {
                    put(tx, store.key(), &m, 5)?;
                }
                // Seen again with a new time: the row follows.
                put(tx, store.key(), &meeting("late", from + 10), 6)?;
                for (id, mid, at, state) in [("s1", "first", from + 5, "accepted"), ("s2", "late", from + 20, "queued"), ("s3", "before", from - 10, "accepted")] {
                    tx.execute(
                        "INSERT INTO meetings_sign_in (id, mid, slot, signed_at_ms, state) VALUES (?1, ?2, 1, ?3, ?4)",
                        params![id, mid, at, state],
                    )?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let day = store.read(|c| day(c, store.key(), from, to)).unwrap();
        let mids: Vec<&str> = day.meetings.iter().map(|m| m.info.mid.as_str()).collect();
        assert_eq!(mids, ["first", "late"], "from inclusive, to exclusive, earliest first");
        assert_eq!(day.meetings[0].info.title, "會議 first");
        let states: Vec<Option<&str>> = day.meetings.iter().map(|m| m.sign_in.as_deref()).collect();
        assert_eq!(states, [Some("accepted"), Some("queued")]);
        assert_eq!((day.sign_ins, day.pending), (2, 1), "the sign-in before the day is not counted");
        // Titles are sealed on disk.
        drop(store);
        let raw = std::fs::read(dir.path().join("p.db")).unwrap();
        assert!(!raw.windows("會議 first".len()).any(|w| w == "會議 first".as_bytes()));
    }
}
