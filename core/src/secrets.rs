//! The platform's keystore, as the core sees it: a few small named secrets (the
//! profile's data key). On a phone the app implements [`SecretStore`] over the Android
//! Keystore or the iOS Keychain.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why the platform's secret store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret store: {0}")]
pub struct SecretError(pub String);

/// Named secrets held by the platform. Implementations must be safe to call from any
/// thread; calls may block briefly (the core calls them off the async runtime).
pub trait SecretStore: Send + Sync {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SecretError>;
    fn put(&self, name: &str, value: &[u8]) -> Result<(), SecretError>;
    fn delete(&self, name: &str) -> Result<(), SecretError>;
}

/// One file per secret, mode 0600, in one folder.
///
/// For desktops, the CLI and tests only: NOT for phones. Anyone who can read the
/// folder can read the secrets; a phone must use its hardware-backed keystore.
#[derive(Debug, Clone)]
pub struct FileSecretStore {
    dir: PathBuf,
}

impl FileSecretStore {
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| SecretError(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> Result<PathBuf, SecretError> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(SecretError(format!(
                "secret name {name:?} must be 1-128 of [A-Za-z0-9._-] and not start with a dot"
            )));
        }
        Ok(self.dir.join(name))
    }
}

fn write_private(path: &Path, value: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(value)?;
    file.sync_all()?;
    // Rename so a crash never leaves a half-written key behind.
    std::fs::rename(&tmp, path)
}

impl SecretStore for FileSecretStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SecretError> {
        let path = self.path(name)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretError(format!("cannot read secret {name}: {e}"))),
        }
    }

    fn put(&self, name: &str, value: &[u8]) -> Result<(), SecretError> {
        let path = self.path(name)?;
        write_private(&path, value).map_err(|e| SecretError(format!("cannot write secret {name}: {e}")))
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SecretError(format!("cannot delete secret {name}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trips_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSecretStore::new(dir.path().join("s")).unwrap();
        assert_eq!(store.get("k").unwrap(), None);
        store.put("k", b"v1").unwrap();
        store.put("k", b"v2").unwrap();
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v2"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("s/k")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.delete("k").unwrap();
        store.delete("k").unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }

    #[test]
    fn names_cannot_escape_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSecretStore::new(dir.path()).unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(store.put(bad, b"v").is_err(), "{bad:?}");
        }
    }
}
