//! taipei-core: the whole logic of the TaipeiON / TaipeiPASS phone apps, as plain
//! async Rust. Nothing here knows uniffi exists; `bindings/` wraps it.

pub mod qr;
