//! Opening a data directory's database the way every command must: directory created,
//! files owner-only, the token key installed, older plaintext tokens sealed.

use std::path::{Path, PathBuf};

use super::{Db, StoreError};

/// What to open: the data directory and where the token key may come from.
#[derive(Debug, Clone, Copy)]
pub struct DataDir<'a> {
    pub dir: &'a Path,
    /// `secret_key` from the configuration, if set (else the directory's key file).
    pub secret_key: Option<&'a str>,
    /// The config file, named in the hint when a key is missing.
    pub config_file: Option<&'a Path>,
}

/// An open database and whether this call created it.
pub struct Opened {
    pub db: Db,
    pub created: bool,
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot restrict the mode of {path}: {source}")]
    Tighten {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] crate::seal::SealError),
    #[error("cannot open database {path}: {source}")]
    Database { path: PathBuf, source: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the database in the data directory, creating both on first use. Modes an
/// older version left readable are tightened; running as root, the files are handed to
/// the directory's owner so the service can still open them.
pub fn open_data_dir(spec: DataDir<'_>) -> Result<Opened, OpenError> {
    let dir = spec.dir;
    std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(crate::data_dir::DATABASE);
    for p in crate::private_files::data_paths(dir, &path) {
        let tightened = crate::private_files::tighten(&p).map_err(|source| OpenError::Tighten {
            path: p.clone(),
            source,
        })?;
        if let Some((old, new)) = tightened {
            tracing::warn!(path = %p.display(), "mode {old:04o} was readable by others; now {new:04o}");
        }
    }
    let origin = crate::seal::install(spec.secret_key, spec.config_file, dir)?;
    if let crate::seal::Origin::File {
        path: key,
        created: true,
    } = &origin
    {
        tracing::info!(key_file = %key.display(), "generated the access-token key (no secret_key configured); back it up with the config");
    }
    let created = !path.exists();
    let db = Db::open(&path).map_err(|source| OpenError::Database {
        path: path.clone(),
        source,
    })?;
    let sealed = super::channel::seal_plaintext(&*db.conn()?)?;
    if sealed > 0 {
        tracing::info!(channels = sealed, "sealed plaintext access tokens");
    }
    if let Some(uid) = crate::ownership::hand_over_database_files(dir, &path) {
        tracing::warn!(
            uid,
            "running as root: database files were handed to the data directory's owner so the \
             service can still open them; prefer `sudo -u helpstack helpstack ...`"
        );
    }
    Ok(Opened { db, created })
}
