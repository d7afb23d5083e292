//! [`Push`]: the push subscription, payloads in, the inbox, badges and read marks — and
//! its error enum [`PushError`]; plus [`push_receive_light`], the entry point for the
//! iOS notification service extension and the Android messaging service, which needs
//! no `Client`.

use std::sync::Arc;

use taipei_core::Error as CoreError;
use taipei_core::push::{self as core_push, PushKind};

use crate::client::{Client, Shared};
use crate::error::{ClientError, ffi_error};
use crate::platform::{SecretStore, SecretsBridge};

/// Which push channel the token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushChannel {
    /// An RFC 8030 endpoint URL.
    WebPush,
    Fcm,
    Apns,
}

impl From<PushChannel> for core_push::PushPlatform {
    fn from(c: PushChannel) -> Self {
        match c {
            PushChannel::WebPush => Self::WebPush,
            PushChannel::Fcm => Self::Fcm,
            PushChannel::Apns => Self::Apns,
        }
    }
}

/// RFC 8030 urgency; `High` is shown even in quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushUrgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl From<core_push::Urgency> for PushUrgency {
    fn from(u: core_push::Urgency) -> Self {
        match u {
            core_push::Urgency::VeryLow => Self::VeryLow,
            core_push::Urgency::Low => Self::Low,
            core_push::Urgency::Normal => Self::Normal,
            core_push::Urgency::High => Self::High,
        }
    }
}

/// Where a tap leads.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PushRoute {
    ApprovalItem { item_id: String },
    MeetingReminder { meeting_id: String },
    PunchSettled { punch_id: String },
    CertificateIssued { certificate_id: String },
    /// A kind this version has no screen for: open the inbox.
    InboxOnly,
}

impl From<core_push::PushRoute> for PushRoute {
    fn from(r: core_push::PushRoute) -> Self {
        match r {
            core_push::PushRoute::ApprovalItem { item_id } => Self::ApprovalItem { item_id },
            core_push::PushRoute::MeetingReminder { meeting_id } => Self::MeetingReminder { meeting_id },
            core_push::PushRoute::PunchSettled { punch_id } => Self::PunchSettled { punch_id },
            core_push::PushRoute::CertificateIssued { certificate_id } => Self::CertificateIssued { certificate_id },
            core_push::PushRoute::InboxOnly => Self::InboxOnly,
        }
    }
}

/// What became of one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushOutcome {
    New,
    Duplicate,
    Expired,
    Superseded,
    Tickle,
}

impl From<core_push::Outcome> for PushOutcome {
    fn from(o: core_push::Outcome) -> Self {
        match o {
            core_push::Outcome::New => Self::New,
            core_push::Outcome::Duplicate => Self::Duplicate,
            core_push::Outcome::Expired => Self::Expired,
            core_push::Outcome::Superseded => Self::Superseded,
            core_push::Outcome::Tickle => Self::Tickle,
        }
    }
}

/// One message of the inbox. `kind` is the wire name (`approval_item`, …; a newer
/// server's kinds come through as they are). Times UTC ms.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushMessage {
    pub id: String,
    pub seq: u64,
    pub kind: String,
    pub urgency: PushUrgency,
    pub title: String,
    pub text: String,
    pub route: String,
    pub target: PushRoute,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub read: bool,
}

impl From<core_push::InboxMessage> for PushMessage {
    fn from(m: core_push::InboxMessage) -> Self {
        Self {
            id: m.id,
            seq: m.seq,
            kind: m.kind.as_str().to_owned(),
            urgency: m.urgency.into(),
            title: m.title,
            text: m.text,
            route: m.route,
            target: m.target.into(),
            created_ms: m.created_ms,
            expires_ms: m.expires_ms,
            read: m.read,
        }
    }
}

/// What to show for a payload.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushNotification {
    pub message_id: String,
    pub kind: String,
    pub title: String,
    pub text: String,
    pub route: String,
    pub target: PushRoute,
}

/// The result of one payload: what to show (or nothing) and the badge to set.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushReceived {
    pub outcome: PushOutcome,
    pub message: Option<PushMessage>,
    /// `None`: show nothing (a repeat, a tickle, quiet hours, data only).
    pub notification: Option<PushNotification>,
    /// Set the app badge to this (a count, never an increment).
    pub badge: u32,
    /// A message is missing; the client syncs (the light entry point leaves it to the app).
    pub sync_needed: bool,
}

impl From<core_push::Received> for PushReceived {
    fn from(r: core_push::Received) -> Self {
        Self {
            outcome: r.outcome.into(),
            message: r.message.map(Into::into),
            notification: r.notification.map(|n| PushNotification {
                message_id: n.message_id,
                kind: n.kind.as_str().to_owned(),
                title: n.title,
                text: n.text,
                route: n.route,
                target: n.target.into(),
            }),
            badge: r.badge,
            sync_needed: r.sync_needed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PushRegistration {
    pub reverify_after_ms: i64,
    /// False when the same token was registered recently and nothing was sent.
    pub sent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PushSyncReport {
    pub new: u32,
    pub read_elsewhere: u32,
    pub reads_sent: u32,
    pub badge: u32,
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushKindCount {
    pub kind: String,
    pub unread: u32,
}

impl From<core_push::KindCount> for PushKindCount {
    fn from(k: core_push::KindCount) -> Self {
        Self { kind: k.kind.as_str().to_owned(), unread: k.unread }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushPendingRoute {
    pub message_id: String,
    pub route: String,
    pub target: PushRoute,
}

impl From<core_push::PendingRoute> for PushPendingRoute {
    fn from(p: core_push::PendingRoute) -> Self {
        Self { message_id: p.message_id, route: p.route, target: p.target.into() }
    }
}

/// Quiet hours in minutes of the Taipei day; `start_min > end_min` crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PushQuietHours {
    pub start_min: u32,
    pub end_min: u32,
}

ffi_error! {
    /// What push refuses. A bad payload is always one of these and stores nothing.
    pub enum PushError {
        /// Not registered yet (no keys or no server key). Code `push_not_registered`.
        NotRegistered {},
        /// Over the 4096 bytes push services carry. Code `push_too_large`.
        TooLarge {},
        /// Not encrypted to this device's keys, or altered. Code `push_undecryptable`.
        Undecryptable {},
        /// Not a push body or message. Code `push_malformed`.
        Malformed {},
        /// Not signed by the server this device registered with. Code `push_forged`.
        Forged {},
        /// Signed for another person. Code `push_wrong_user`.
        WrongUser {},
        /// The server's reply breaks the protocol. Code `push_bad_reply`.
        BadReply {},
        /// No such message in the inbox. Code `push_unknown_message`.
        UnknownMessage {},
    }
    specific = |e| match e {
        CoreError::Push(p) => {
            let (code, detail) = (p.code().to_owned(), p.to_string());
            Ok(match p {
                core_push::PushError::NotRegistered => PushError::NotRegistered { code, detail },
                core_push::PushError::Oversized { .. } => PushError::TooLarge { code, detail },
                core_push::PushError::Undecryptable(_) => PushError::Undecryptable { code, detail },
                core_push::PushError::Malformed(_) => PushError::Malformed { code, detail },
                core_push::PushError::Forged => PushError::Forged { code, detail },
                core_push::PushError::WrongUser => PushError::WrongUser { code, detail },
                core_push::PushError::BadReply(_) => PushError::BadReply { code, detail },
                core_push::PushError::UnknownMessage(_) => PushError::UnknownMessage { code, detail },
                core_push::PushError::Common(c) => return Err(CoreError::from(c)),
            })
        }
        e => Err(e),
    };
}

/// The light entry point: for the iOS notification service extension or the Android
/// messaging service while no `Client` of this process has the profile open. Opens the
/// profile's store alone (no client, no network), takes the payload in and returns what
/// to show and the badge. `secret_store` must be the one the app opens the `Client`
/// with (on iOS, a keychain access group shared with the extension).
#[uniffi::export]
pub fn push_receive_light(
    data_dir: String,
    profile: String,
    secret_store: Arc<dyn SecretStore>,
    payload: Vec<u8>,
) -> Result<PushReceived, PushError> {
    crate::runtime::guard(|| {
        let secrets = SecretsBridge(secret_store);
        core_push::receive_light(std::path::Path::new(&data_dir), &profile, &secrets, &payload)
            .map(Into::into)
            .map_err(|e| PushError::from(CoreError::from(e)))
    })
}

/// Push, handed out by `Client.push()`.
#[derive(Debug, uniffi::Object)]
pub struct Push {
    client: Arc<Shared>,
}

#[uniffi::export]
impl Client {
    /// Push. No I/O; fails only with `Closed`.
    pub fn push(&self) -> Result<Arc<Push>, ClientError> {
        self.shared.get(|_| Ok(Arc::new(Push { client: Arc::clone(&self.shared) })))
    }
}

fn kind_of(kind: Option<String>) -> Option<PushKind> {
    kind.as_deref().map(PushKind::parse)
}

#[uniffi::export]
impl Push {
    /// Registers the OS token (or Web Push endpoint) with the server; makes the push
    /// keys on first use. Call on every app start and token change: the same token is
    /// sent again only once it is due for re-verification (at most daily).
    pub async fn register(&self, channel: PushChannel, token: String) -> Result<PushRegistration, PushError> {
        self.client
            .call(|c| async move {
                c.push().register(channel.into(), &token).await.map(|r| PushRegistration { reverify_after_ms: r.reverify_after_ms, sent: r.sent })
            })
            .await
    }

    /// Stops pushes to this device.
    pub async fn unregister(&self) -> Result<(), PushError> {
        self.client.call(|c| async move { c.push().unregister().await }).await
    }

    /// A payload the OS handed over (the encrypted body, as bytes).
    pub async fn receive(&self, payload: Vec<u8>) -> Result<PushReceived, PushError> {
        self.client.call(|c| async move { c.push().receive(payload).await.map(Into::into) }).await
    }

    /// The OS dropped messages (FCM `onDeletedMessages`): a sync follows.
    pub async fn on_deleted_messages(&self) -> Result<(), PushError> {
        self.client.call(|c| async move { c.push().on_deleted_messages().await }).await
    }

    /// Fetches what push lost and read marks from other devices; sends this one's.
    pub async fn sync(&self) -> Result<PushSyncReport, PushError> {
        self.client
            .call(|c| async move {
                c.push().sync().await.map(|r| PushSyncReport {
                    new: r.new,
                    read_elsewhere: r.read_elsewhere,
                    reads_sent: r.reads_sent,
                    badge: r.badge,
                    more: r.more,
                })
            })
            .await
    }

    pub async fn badge(&self) -> Result<u32, PushError> {
        self.client.call(|c| async move { c.push().badge().await }).await
    }

    pub async fn unread_by_kind(&self) -> Result<Vec<PushKindCount>, PushError> {
        self.client
            .call(|c| async move {
                Ok::<_, core_push::PushError>(c.push().unread_by_kind().await?.into_iter().map(Into::into).collect())
            })
            .await
    }

    /// The newest messages; `kind` (a wire name) narrows, `unread_only` leaves read ones out.
    pub async fn inbox(&self, kind: Option<String>, unread_only: bool, limit: u32) -> Result<Vec<PushMessage>, PushError> {
        self.client
            .call(|c| async move {
                Ok::<_, core_push::PushError>(c.push().inbox(kind_of(kind), unread_only, limit).await?.into_iter().map(Into::into).collect())
            })
            .await
    }

    /// Marks messages read (here at once, elsewhere after the next sync); returns the badge.
    pub async fn mark_read(&self, ids: Vec<String>) -> Result<u32, PushError> {
        self.client.call(|c| async move { c.push().mark_read(ids).await }).await
    }

    /// A notification was tapped: its route is kept until `take_pending_route`.
    pub async fn tapped(&self, message_id: String) -> Result<PushPendingRoute, PushError> {
        self.client.call(|c| async move { c.push().tapped(&message_id).await.map(Into::into) }).await
    }

    /// The tapped route, once, when the UI is ready to go there.
    pub async fn take_pending_route(&self) -> Result<Option<PushPendingRoute>, PushError> {
        self.client.call(|c| async move { c.push().take_pending_route().await.map(|p| p.map(Into::into)) }).await
    }

    /// Sets or (with `None`) clears the quiet hours of one kind (a wire name).
    pub async fn set_quiet_hours(&self, kind: String, hours: Option<PushQuietHours>) -> Result<(), PushError> {
        self.client
            .call(|c| async move {
                let hours = hours.map(|h| core_push::QuietHours { start_min: h.start_min, end_min: h.end_min });
                c.push().set_quiet_hours(PushKind::parse(&kind), hours).await
            })
            .await
    }
}
