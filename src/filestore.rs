//! The attachment store on disk, content-addressed: `attachments/ab/cd/<sha256>`. The
//! same file received twice is stored once, and a path never changes meaning.

use std::path::{Path, PathBuf};

/// The attachment directory and its temp area (same filesystem, so rename is atomic).
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store rooted at `data_dir/attachments`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("attachments"),
        }
    }

    /// Where the bytes with this SHA-256 (hex) live.
    pub fn path_for(&self, sha256_hex: &str) -> Option<PathBuf> {
        if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(
            self.root
                .join(&sha256_hex[0..2])
                .join(&sha256_hex[2..4])
                .join(sha256_hex),
        )
    }

    /// A fresh temporary file path inside the store.
    pub fn temp_path(&self) -> std::io::Result<PathBuf> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("{}.part", crate::secrets::random_token(12))))
    }

    /// Moves a finished temp file into place under its hash (or drops it when the same
    /// content is already stored).
    pub fn commit(&self, temp: &Path, sha256_hex: &str) -> std::io::Result<PathBuf> {
        let dest = self
            .path_for(sha256_hex)
            .ok_or_else(|| std::io::Error::other("invalid sha256"))?;
        if dest.exists() {
            std::fs::remove_file(temp)?;
            return Ok(dest);
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(temp, &dest)?;
        Ok(dest)
    }

    /// Removes temp files left by a crash mid-download.
    pub fn clean_temp(&self) {
        if let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addressed_paths() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FileStore::new(dir.path());
        let sha = "ab".repeat(32);
        let p = fs.path_for(&sha).unwrap();
        assert!(p.ends_with(format!("attachments/ab/ab/{sha}")));
        assert!(fs.path_for("../../etc/passwd").is_none());
        let t = fs.temp_path().unwrap();
        std::fs::write(&t, b"x").unwrap();
        assert_eq!(fs.commit(&t, &sha).unwrap(), p);
        let t2 = fs.temp_path().unwrap();
        std::fs::write(&t2, b"x").unwrap();
        fs.commit(&t2, &sha).unwrap();
        assert!(!t2.exists(), "duplicate content is dropped");
    }
}
