//! File ownership when an operator runs commands as root on a packaged install, where
//! the service runs as the `helpstack` user: files root creates in the data directory
//! (the database, its -wal and -shm) would lock the service out, so they are handed to
//! the data directory's owner.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Name of the service account the package creates.
pub const SERVICE_USER: &str = "helpstack";

/// Whether this process runs as root (effective uid 0), read from /proc.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Looks up a user's uid, primary gid and home directory in /etc/passwd.
pub fn lookup_user(name: &str) -> Option<(u32, u32, String)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[0] == name)
            .then(|| (f[2].parse().ok(), f[3].parse().ok(), f[5].to_string()))
            .and_then(|(u, g, h)| Some((u?, g?, h)))
    })
}

/// Gives root-created database files in `data_dir` to the directory's owner. Returns
/// the owner's uid when files were handed over.
pub fn hand_over_database_files(data_dir: &Path, db: &Path) -> Option<u32> {
    if !is_root() {
        return None;
    }
    let meta = std::fs::metadata(data_dir).ok()?;
    let (uid, gid) = (meta.uid(), meta.gid());
    if uid == 0 {
        return None;
    }
    let mut names = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        names.push(p.into());
    }
    names.push(data_dir.join(crate::data_dir::ATTACHMENTS));
    names.push(data_dir.join(crate::data_dir::KEY_FILE));
    for p in names.iter().filter(|p| p.exists()) {
        let _ = std::os::unix::fs::chown(p, Some(uid), Some(gid));
    }
    Some(uid)
}
