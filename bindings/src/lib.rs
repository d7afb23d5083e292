//! placeholder while the pipeline is proven
uniffi::setup_scaffolding!();

#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
