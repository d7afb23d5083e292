//! The scheduled purge: what has lapsed leaves the file, so anonymous traffic (login
//! requests anyone can start, idempotency replies, seen DPoP proof ids) cannot grow it
//! without bound. Requests never purge on their own path: that made every one of them
//! write pages for rows it did not touch. Each
//! module deletes its own rows; this runs them together in one transaction, on a
//! timer started with the server. The audit log is never purged here (see README).

use std::time::Duration;

use crate::background::Background;
use crate::db::Db;
use crate::error::ApiError;
use crate::time::now_ms;
use crate::{auth, idempotency, login, push};

/// What one purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub login: login::Purged,
    pub idempotency: usize,
    /// Seen DPoP proof ids past the replay window.
    pub dpop_jti: usize,
    /// Push subscriptions gone stale or of revoked devices.
    pub push_subscriptions: usize,
}

/// One purge as of `now` (UTC ms).
pub async fn run(db: &Db, now: i64) -> Result<Purged, ApiError> {
    db.write(move |tx| {
        Ok(Purged {
            login: login::purge(tx, now)?,
            idempotency: idempotency::purge(tx, now)?,
            dpop_jti: auth::purge(tx, now)?,
            push_subscriptions: push::registry::purge(tx, now)?,
        })
    })
        .await
}

/// Purges every `interval` until stopped (at shutdown; a purge under way commits
/// first). A failed purge is logged and tried again next time; it never stops the server.
pub fn spawn(db: Db, interval: Duration) -> Background {
    Background::spawn("purge", move |mut stopping| async move {
        let mut timer = tokio::time::interval(interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = timer.tick() => {}
                () = stopping.requested() => return,
            }
            match run(&db, now_ms()).await {
                Ok(purged) => tracing::debug!(?purged, "purged lapsed rows"),
                Err(e) => tracing::warn!(error = %e, "purge failed; trying again later"),
            }
        }
    })
}
