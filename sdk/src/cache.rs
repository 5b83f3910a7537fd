//! Snapshot files: the bootstrap read at start, and the cache file written after every change.

use std::io::Write;
use std::path::{Path, PathBuf};

use pennon_engine::Snapshot;

/// Reads a snapshot file (the JSON of `GET /api/v1/sdk/snapshot`).
pub(crate) fn read_snapshot(path: &Path) -> Result<Snapshot, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a snapshot: {e}"))
}

/// The cache file's snapshot, when there is a usable one; a missing file is normal, a broken one is logged.
pub(crate) fn load(path: &Path) -> Option<Snapshot> {
    match read_snapshot(path) {
        Ok(snapshot) => Some(snapshot),
        Err(_) if !path.exists() => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring the cache file");
            None
        }
    }
}

/// Writes the snapshot so that the file always holds a whole snapshot, old or new: to a temporary file in the
/// same directory, flushed to disk, then renamed over the old one.
pub(crate) fn write_atomic(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(|| "pennon-cache".into(), |n| n.to_string_lossy().into_owned());
    let temp: PathBuf = dir.join(format!(".{name}.{}.{:08x}.tmp", std::process::id(), rand::random::<u32>()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        serde_json::to_writer(&mut file, snapshot)?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_snapshots_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.json");
        assert!(load(&path).is_none());
        let mut snapshot = Snapshot { environment: "production".into(), revision: 7, ..Snapshot::default() };
        write_atomic(&path, &snapshot).unwrap();
        snapshot.revision = 8;
        write_atomic(&path, &snapshot).unwrap();
        assert_eq!(load(&path), Some(snapshot));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_broken_cache_file_is_ignored_and_a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.json");
        std::fs::write(&path, b"{\"revision\": ").unwrap();
        assert!(load(&path).is_none());
        assert!(read_snapshot(&path).unwrap_err().starts_with("not a snapshot"));
        let missing_dir = dir.path().join("nope").join("flags.json");
        assert!(write_atomic(&missing_dir, &Snapshot::default()).is_err());
    }
}
