//! The attachment store on disk, content-addressed: `attachments/ab/cd/<sha256>`. The
//! same file received twice is stored once, and a path never changes meaning.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Downloads up to this size stay in memory until they are stored (profile pictures
/// and most photos): one blocking call then writes them, instead of one per chunk.
/// Larger ones are written to a temp file as they arrive.
const SPILL_BYTES: usize = 1 << 20;

/// The attachment directory and its temp area (same filesystem, so rename is atomic).
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store rooted at `data_dir/attachments`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join(crate::data_dir::ATTACHMENTS),
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

    /// Somewhere to put a download's bytes as they arrive, until [`FileStore::store`].
    pub fn spool(&self) -> Spool {
        Spool {
            temp_dir: self.root.join("tmp"),
            buf: Vec::new(),
            spilled: None,
        }
    }

    /// Stores spooled bytes under their SHA-256 (hex), durably, in one blocking call: the
    /// file is written and synced under a temp name, renamed into place, and its
    /// directory synced, so the database row that names it (committed next) can never
    /// point at a file a power cut took away. The same content already stored is kept
    /// as it is and the spool dropped.
    pub async fn store(&self, spool: Spool, sha256_hex: &str) -> std::io::Result<PathBuf> {
        let dest = self
            .path_for(sha256_hex)
            .ok_or_else(|| std::io::Error::other("invalid sha256"))?;
        tokio::task::spawn_blocking(move || {
            if dest.exists() {
                return Ok(dest);
            }
            let Spool {
                temp_dir,
                buf,
                spilled,
            } = spool;
            let temp = TempFile::append(spilled, &temp_dir, &buf)?;
            temp.file.sync_all()?;
            let dir = dest.parent().expect("a stored path has a parent");
            let new_dir = !dir.exists();
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&temp.path, &dest)?;
            sync_dir(dir)?;
            if new_dir {
                // `ab/cd/` may be new too: their entries live in the directories above.
                for up in dir.ancestors().skip(1).take(2) {
                    sync_dir(up)?;
                }
            }
            Ok(dest)
        })
        .await
        .map_err(std::io::Error::other)?
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

/// A download on its way into the store: in memory, or in a temp file once it grew
/// past [`SPILL_BYTES`]. Dropping it (a failed or rejected download) leaves nothing.
pub struct Spool {
    temp_dir: PathBuf,
    buf: Vec<u8>,
    spilled: Option<TempFile>,
}

impl Spool {
    /// Takes the next chunk; writes to the temp file (on a blocking thread) only when
    /// the spool has grown past [`SPILL_BYTES`].
    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() < SPILL_BYTES {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let spilled = self.spilled.take();
        let temp_dir = self.temp_dir.clone();
        let temp = tokio::task::spawn_blocking(move || TempFile::append(spilled, &temp_dir, &buf))
            .await
            .map_err(std::io::Error::other)??;
        self.spilled = Some(temp);
        Ok(())
    }
}

/// A temp file in the store's `tmp/` (the same filesystem, so the rename into place is
/// atomic). Removed when dropped unless it was renamed away.
struct TempFile {
    file: std::fs::File,
    path: PathBuf,
}

impl TempFile {
    /// Appends `buf` to the spool's temp file, creating it in `dir` the first time.
    fn append(spilled: Option<Self>, dir: &Path, buf: &[u8]) -> std::io::Result<Self> {
        let mut temp = match spilled {
            Some(t) => t,
            None => {
                std::fs::create_dir_all(dir)?;
                let path = dir.join(format!("{}.part", crate::secrets::random_token(12)));
                let file = std::fs::File::create(&path)?;
                Self { file, path }
            }
        };
        temp.file.write_all(buf)?;
        Ok(temp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After a successful store the name is gone already (NotFound, ignored).
        let _ = std::fs::remove_file(&self.path);
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_files(fs: &FileStore) -> usize {
        std::fs::read_dir(fs.root.join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn content_addressed_paths() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FileStore::new(dir.path());
        let sha = "ab".repeat(32);
        let p = fs.path_for(&sha).unwrap();
        assert!(p.ends_with(format!("attachments/ab/ab/{sha}")));
        assert!(fs.path_for("../../etc/passwd").is_none());
        let mut spool = fs.spool();
        spool.write(b"x").await.unwrap();
        assert_eq!(fs.store(spool, &sha).await.unwrap(), p);
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        let mut again = fs.spool();
        again.write(b"y").await.unwrap();
        fs.store(again, &sha).await.unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"x",
            "stored content is never replaced"
        );
        assert_eq!(temp_files(&fs), 0);
    }

    #[tokio::test]
    async fn large_downloads_spill_to_a_temp_file_that_never_outlives_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FileStore::new(dir.path());
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut spool = fs.spool();
        let mut expected = Vec::new();
        for _ in 0..40 {
            spool.write(&chunk).await.unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert!(expected.len() > 2 * SPILL_BYTES);
        assert_eq!(temp_files(&fs), 1, "spilled as it arrived");
        let stored = fs.store(spool, &"cd".repeat(32)).await.unwrap();
        assert_eq!(std::fs::read(stored).unwrap(), expected);
        assert_eq!(temp_files(&fs), 0);

        // A download abandoned after spilling (too large, wrong hash) leaves nothing.
        let mut spool = fs.spool();
        for _ in 0..20 {
            spool.write(&chunk).await.unwrap();
        }
        assert_eq!(temp_files(&fs), 1);
        drop(spool);
        assert_eq!(temp_files(&fs), 0);
    }
}
