//! Push: what the server sends to a push service and what the phone receives from it.
//!
//! A push message crosses a party the city does not control (FCM, APNs, a Web Push
//! service), so it is encrypted to the subscription's key ([`encryption`], RFC 8291)
//! and the server proves itself to the push service with a VAPID token ([`vapid`],
//! RFC 8292). The message inside is signed by the server and carries what the phone
//! needs to de-duplicate, order and recover lost pushes ([`message`]). Both sides use this module, so the bytes can never drift apart.

pub mod encryption;
pub mod message;
pub mod vapid;

pub use encryption::WebPushError;
