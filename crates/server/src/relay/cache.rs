//! The cache directory: per configured key, the environment's snapshot (as SDKs receive it) and what the
//! relay learned of its keys, each written to a temporary file and renamed over the last one, so that a crash
//! leaves the previous file or the new one, never half of one. Files are named by a digest of the key, never
//! the key.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::api::sdk::relay::RelayInfo;

/// The cache of one key.
#[derive(Debug, Clone)]
pub struct Cache {
    snapshot: PathBuf,
    info: PathBuf,
}

impl Cache {
    /// The files of `key` in `dir`.
    pub fn new(dir: &Path, key: &str) -> Self {
        let name = &hex::encode(Sha256::digest(key.as_bytes()))[..16];
        Cache { snapshot: dir.join(format!("{name}.snapshot.json")), info: dir.join(format!("{name}.relay.json")) }
    }

    /// The cached snapshot and relay information, when both are there and readable.
    pub async fn load(&self) -> Option<(pennon_engine::Snapshot, RelayInfo)> {
        let (snapshot, info) = (self.snapshot.clone(), self.info.clone());
        let read =
            tokio::task::spawn_blocking(move || Some((std::fs::read(snapshot).ok()?, std::fs::read(info).ok()?)));
        let (snapshot, info) = read.await.ok()??;
        let parsed = serde_json::from_slice(&snapshot).and_then(|s| Ok((s, serde_json::from_slice(&info)?)));
        if parsed.is_err() {
            tracing::warn!(file = %self.snapshot.display(), "the relay cache cannot be read; ignoring it");
        }
        parsed.ok()
    }

    /// Writes the snapshot JSON.
    pub async fn store_snapshot(&self, json: &[u8]) {
        write_atomically(&self.snapshot, json).await;
    }

    /// Writes the relay information.
    pub async fn store_info(&self, info: &RelayInfo) {
        match serde_json::to_vec(info) {
            Ok(json) => write_atomically(&self.info, &json).await,
            Err(e) => tracing::warn!(error = %e, "relay information cannot be encoded for the cache"),
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it over `path`.
async fn write_atomically(path: &Path, bytes: &[u8]) {
    let (path, bytes) = (path.to_owned(), bytes.to_vec());
    let shown = path.display().to_string();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write as _;
        let tmp = path.with_extension("tmp");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(file = %shown, error = %e, "the relay cache could not be written"),
        Err(e) => tracing::warn!(file = %shown, error = %e, "the relay cache writer failed"),
    }
}
