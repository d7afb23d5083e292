//! The wire contract between the phone core and any city backend.
//!
//! Everything both sides must agree on byte for byte lives here and nowhere else:
//! the JSON types of the HTTP API, the QR payload codecs, and the exact bytes each
//! signature covers. The core and the reference server both depend on this crate, so
//! the two can never drift. No I/O happens here.

pub mod api;
pub mod approval;
pub mod attendance;
pub mod b64;
pub mod beacon;
pub mod binding;
pub mod cert;
pub mod dpop;
pub mod ecdsa;
pub mod limits;
pub mod login;
pub mod meeting;
pub mod push;
pub mod qrpayload;
pub mod redact;
pub mod signed;
pub mod wallet;

mod error;

pub use error::ProtocolError;
