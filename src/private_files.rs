//! Owner-only files: the database, its -wal/-shm, attachments, backups and key files
//! hold every message and the tokens, so nobody but their owner may read them,
//! whatever umask the operator's shell has.
//!
//! The rule is enforced twice: the process umask is 077 from the first line of `main`
//! (every file and directory HelpStack creates, SQLite's included, is born 0600/0700),
//! and files an older version created readable are tightened when the database opens.
//! Directories may keep group bits (the package's /var/lib/helpstack is 0750 for the
//! `helpstack` group), never bits for others.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Makes every file and directory this process creates owner-only (umask 077).
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// The bits a file or directory must not have: files none for group or others,
/// directories none for others.
fn forbidden_bits(is_dir: bool) -> u32 {
    if is_dir { 0o007 } else { 0o077 }
}

/// Removes the forbidden bits from an existing file or directory (absent is fine).
/// Returns the old and new mode when it changed something.
pub fn tighten(path: &Path) -> std::io::Result<Option<(u32, u32)>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(None);
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = mode & !forbidden_bits(meta.is_dir());
    if wanted == mode {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
    Ok(Some((mode, wanted)))
}

/// Describes what is wrong with a path's mode, or `None` when it is private enough
/// (or absent).
pub fn mode_problem(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let mode = meta.permissions().mode() & 0o7777;
    let bad = mode & forbidden_bits(meta.is_dir());
    (bad != 0).then(|| {
        let want = if meta.is_dir() {
            "0700 or 0750"
        } else {
            "0600"
        };
        format!("{} is {mode:04o}; it must be {want}", path.display())
    })
}

/// The files of the data directory that must be private: the directory itself, the
/// database with its -wal/-shm, the attachments directory, the key files and the
/// first start's login file.
pub fn data_paths(data_dir: &Path, db: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = vec![data_dir.to_path_buf(), db.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        paths.push(p.into());
    }
    use crate::data_dir::{ATTACHMENTS, INITIAL_LOGIN_FILE, KEY_FILE, PREVIOUS_KEY_FILE};
    for name in [ATTACHMENTS, KEY_FILE, PREVIOUS_KEY_FILE, INITIAL_LOGIN_FILE] {
        paths.push(data_dir.join(name));
    }
    paths
}

/// Writes a new owner-only file (0600) that must not exist yet.
pub fn create_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tighten_strips_group_and_other_bits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(mode_problem(&f).is_some());
        assert_eq!(tighten(&f).unwrap(), Some((0o644, 0o600)));
        assert!(mode_problem(&f).is_none());
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(tighten(&d).unwrap(), Some((0o755, 0o750)));
        assert_eq!(tighten(&dir.path().join("absent")).unwrap(), None);
    }
}
