//! Meeting sign-in from the phone's side: read a room display's `TPM1:` code, show the
//! meeting, and sign in with one call.
//!
//! The signed sign-in is written to the outbox in the same transaction as this
//! module's own row, then sent at once. Online, the call returns the server's verdict;
//! offline, it returns `Queued` and the outbox delivers it later — the server then
//! judges the slot by the server-clock time the phone signed (protocol.md).

mod known;

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};
use taipei_protocol::api::Receipt;
use taipei_protocol::b64;
use taipei_protocol::meeting::{MeetingFrame, MeetingInfo, MeetingSignIn, sign_in_message};

use crate::ctx::{Account, Active, CommonError, Ctx, Queue, blocking};
use crate::identity::signer::sign_checked;
use crate::login::{LoginError, map_refusal};
use crate::outbox::{self, NewItem, OutboxError, OutboxItem, ReceiptHandler, Rejection};
use crate::store::{Store, StoreError};

/// The outbox kind of a meeting sign-in.
pub const SIGN_IN_KIND: &str = "meeting_sign_in";

/// How a sign-in ended for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The server accepted it. `late`: it had waited offline.
    SignedIn { at_ms: i64, late: bool },
    /// Not sent yet (offline, server unreachable); the outbox will deliver it.
    Queued { reason: String },
}

/// A meeting the phone was shown, with this person's sign-in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMeeting {
    pub info: MeetingInfo,
    /// The latest sign-in's state on this phone: `queued`, `accepted`, `rejected`; `None`: not signed in.
    pub sign_in: Option<String>,
}

/// The meetings of a span of time as this phone knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingsDay {
    /// Starting in the span, earliest first.
    pub meetings: Vec<KnownMeeting>,
    /// Sign-ins made in the span, and how many of them wait to be sent.
    pub sign_ins: u32,
    pub pending: u32,
}

/// The meeting capability of a [`crate::Client`]; see `Client::meetings`. Its
/// context: the store (its `meetings_sign_in` table), the account, and the outbox
/// (the `meeting_sign_in` kind, registered here). Its refusals are [`LoginError`]s.
#[derive(Clone)]
pub struct Meetings {
    store: Arc<Store>,
    account: Arc<Account>,
    outbox: Arc<Queue>,
}

fn parse(qr_text: &str) -> Result<MeetingFrame, LoginError> {
    MeetingFrame::decode(qr_text).map_err(|e| LoginError::NotCityQr(e.to_string()))
}

impl std::fmt::Debug for Meetings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meetings(..)")
    }
}

impl Meetings {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        ctx.outbox.register(SIGN_IN_KIND, Arc::new(Receipts));
        Self { store: Arc::clone(&ctx.store), account: Arc::clone(&ctx.account), outbox: Arc::clone(&ctx.outbox) }
    }

    /// The meeting a scanned code belongs to, to show before the tap (needs the network).
    /// It is kept, so [`Meetings::day`] lists it offline.
    pub async fn scan(&self, qr_text: &str) -> Result<MeetingInfo, LoginError> {
        let frame = parse(qr_text)?;
        let path = format!("/v1/meetings/{}", frame.mid_text());
        let info: MeetingInfo = self.account.get_json(&path, "MeetingInfo").await.map_err(map_refusal)?;
        if info.mid != frame.mid_text() || info.ends_at_ms < info.starts_at_ms {
            let why = "a meeting other than the code's, or one ending before it starts";
            return Err(CommonError::from(crate::net::NetError::MalformedReply(why.into())).into());
        }
        let (store, kept, now) = (Arc::clone(&self.store), info.clone(), self.account.server_now_ms());
        blocking(move || Ok::<_, LoginError>(store.write(|tx| known::put(tx, store.key(), &kept, now))?)).await?;
        Ok(info)
    }

    /// The meetings known to this phone that start in `from_ms..to_ms` (earliest first)
    /// and the sign-ins made in that span, from the store alone.
    pub async fn day(&self, from_ms: i64, to_ms: i64) -> Result<MeetingsDay, LoginError> {
        let store = Arc::clone(&self.store);
        blocking(move || Ok::<_, LoginError>(store.read(|c| known::day(c, store.key(), from_ms, to_ms))?)).await
    }

    /// Signs in with the scanned code: signed, queued durably, and sent now if possible.
    pub async fn sign_in(&self, qr_text: &str) -> Result<SignInOutcome, LoginError> {
        let frame = parse(qr_text)?;
        let Active { info, signer, public } = self.account.active()?;
        // Offline, the last learned server offset still stamps the tap; the server
        // judges a late arrival by this signed time.
        let time_ms = self.account.server_now_ms();
        let store = Arc::clone(&self.store);
        let message = sign_in_message(&frame.mid, frame.slot, &frame.tag, &info.device_id, time_ms);
        let signature = sign_checked(signer.as_ref(), &public, &message).await?;
        let id = blocking(move || {
            let body = MeetingSignIn { slot: frame.slot, tag: b64::encode(frame.tag), time_ms, signature: b64::encode(signature) };
            let item = NewItem {
                kind: SIGN_IN_KIND.into(),
                method: "POST".into(),
                path: format!("/v1/meetings/{}/sign-ins", frame.mid_text()),
                body: serde_json::to_value(&body).map_err(|e| CommonError::Internal(e.to_string()))?,
            };
            let slot = i64::try_from(frame.slot).unwrap_or(i64::MAX);
            Ok::<_, LoginError>(store.write(|tx| {
                let id = outbox::enqueue_in(tx, &item, time_ms)?;
                tx.execute(
                    "INSERT INTO meetings_sign_in (id, mid, slot, signed_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![id, frame.mid_text(), slot, time_ms],
                )
                .map_err(StoreError::from)?;
                Ok::<_, OutboxError>(id)
            })?)
        })
        .await?;
        self.outbox.changed().await;
        let sync_error = self.outbox.sync(true).await.err();
        let store = Arc::clone(&self.store);
        let id2 = id.clone();
        let row = blocking(move || {
            store.read(|c| {
                c.query_row(
                    "SELECT state, late, code, reason, settled_at_ms FROM meetings_sign_in WHERE id = ?1",
                    [&id],
                    |r| {
                        Ok(Row {
                            state: r.get(0)?,
                            late: r.get(1)?,
                            code: r.get(2)?,
                            reason: r.get(3)?,
                            settled_at_ms: r.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(|e| LoginError::from(StoreError::from(e)))
            })
        })
        .await?;
        match row {
            Some(row) if row.state == "accepted" => {
                Ok(SignInOutcome::SignedIn { at_ms: row.settled_at_ms.unwrap_or(time_ms), late: row.late })
            }
            Some(row) if row.state == "rejected" => {
                // The person sees the refusal now; a dead item would tell them twice.
                if let Err(e) = self.outbox.discard_dead(&id2).await {
                    tracing::warn!(code = e.code(), "could not clear the refused sign-in from the outbox");
                }
                Err(rejection(row.code.as_deref().unwrap_or(""), row.reason.as_deref().unwrap_or("")))
            }
            _ => match sync_error {
                // A revoked device or a broken signer is not "queued": say so.
                Some(e @ (CommonError::Identity(_) | CommonError::Closed)) => Err(e.into()),
                Some(e) => Ok(SignInOutcome::Queued { reason: e.to_string() }),
                None => Ok(SignInOutcome::Queued { reason: "waiting for earlier items to be sent".into() }),
            },
        }
    }
}

/// A sign-in's own row, as the sign-in call reads it back after the send.
struct Row {
    state: String,
    late: bool,
    code: Option<String>,
    reason: Option<String>,
    settled_at_ms: Option<i64>,
}

/// The kind of a refusal, from the code the outbox kept beside the words.
fn rejection(code: &str, reason: &str) -> LoginError {
    LoginError::from_code(code, reason, None)
        .unwrap_or_else(|| LoginError::Refused { code: "refused".into(), message: reason.to_owned() })
}

/// Applies the server's verdict to this module's row, in the outbox's transaction.
struct Receipts;

impl ReceiptHandler for Receipts {
    fn on_receipt(&self, tx: &Transaction<'_>, item: &OutboxItem, receipt: &Receipt) -> Result<(), OutboxError> {
        tx.execute(
            "UPDATE meetings_sign_in SET state = 'accepted', late = ?2, settled_at_ms = ?3 WHERE id = ?1",
            params![item.id, receipt.late, receipt.server_time_ms],
        )
        .map_err(StoreError::from)?;
        Ok(())
    }

    fn on_rejected(&self, tx: &Transaction<'_>, item: &OutboxItem, rejection: &Rejection) -> Result<(), OutboxError> {
        tx.execute(
            "UPDATE meetings_sign_in SET state = 'rejected', code = ?2, reason = ?3 WHERE id = ?1",
            params![item.id, rejection.code, rejection.message],
        )
        .map_err(StoreError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_refusals_map_back_to_their_kind_by_code_alone() {
        assert_eq!(rejection("meeting_already_signed_in", "words"), LoginError::AlreadySignedIn);
        assert_eq!(rejection("meeting_closed", ""), LoginError::MeetingClosed);
        assert_eq!(rejection("meeting_forged_frame", "").code(), "meeting_forged_frame");
        // Words that look like a code are only words.
        assert_eq!(rejection("strange", "(meeting_closed, HTTP 409)").code(), "refused");
    }
}
