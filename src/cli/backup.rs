//! `helpstack backup DEST_DIR`: a consistent copy of a live installation.
//!
//! The database is copied first with `VACUUM INTO` (one read snapshot: consistent
//! while the server keeps writing, and compacted), then the attachment files. Files
//! are content-addressed and never change, and a file is stored before any row
//! references it, so every file the copied database references already exists when
//! the files are copied afterwards. Files stored meanwhile are copied too; harmless.

use std::path::{Path, PathBuf};

use super::UsageError;
use crate::config::ConfigSource;
use crate::filestore::FileStore;
use crate::store::backup;

/// Flags of `backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write helpstack.db and attachments/ into (created if missing)
    #[arg(value_name = "DEST_DIR")]
    pub dest: PathBuf,
    /// Replace a helpstack.db already in DEST_DIR
    #[arg(long)]
    pub force: bool,
}

/// Runs `backup`.
pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<()> {
    let config = super::load(source)?;
    let db_path = config.database_path();
    if !db_path.exists() {
        anyhow::bail!("no database at {} to back up", db_path.display());
    }
    // Opening migrates it: tokens a previous version stored in plaintext get sealed
    // before they could reach the copy.
    drop(super::open_database(&config)?);
    let dest_db = args.dest.join("helpstack.db");
    if dest_db.exists() && !args.force {
        return Err(UsageError(format!(
            "{} already exists; pass --force to replace it",
            dest_db.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&args.dest)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.dest.display()))?;
    if same_dir(&args.dest, &config.data_dir) {
        return Err(UsageError("DEST_DIR must not be the data directory".into()).into());
    }
    // VACUUM INTO refuses an existing file; write beside it and rename over it, so a
    // failed backup never destroys the previous one.
    let partial = args.dest.join("helpstack.db.partial");
    let _ = std::fs::remove_file(&partial);
    backup::vacuum_into(&db_path, &partial)
        .map_err(|e| anyhow::anyhow!("while copying the database: {e}"))?;
    // Reading may have created -wal/-shm; as root they must stay usable by the service.
    crate::ownership::hand_over_database_files(&config.data_dir, &db_path);
    let copy = backup::open_existing(&partial)?;
    backup::strip_secrets(&copy)?;
    let check = backup::integrity_check(&copy, 5)?;
    if check != ["ok"] {
        anyhow::bail!("the copy failed its integrity check: {}", check.join("; "));
    }
    let referenced = backup::referenced_files(&copy)?;
    drop(copy);
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &dest_db)?;
    let size = std::fs::metadata(&dest_db)?.len();
    println!(
        "database: {} -> {} ({size} bytes, integrity ok)",
        db_path.display(),
        dest_db.display()
    );

    let (copied, present, bytes) =
        copy_tree(&config.attachments_dir(), &args.dest.join("attachments"))?;
    println!(
        "attachments: {copied} files copied ({bytes} bytes), {present} already present in {}",
        args.dest.join("attachments").display()
    );
    let dest_files = FileStore::new(&args.dest);
    let missing: Vec<&String> = referenced
        .iter()
        .filter(|sha| dest_files.path_for(sha).is_none_or(|p| !p.exists()))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: {} file(s) the database references are missing from the data directory \
             itself (e.g. {}); the backup has what there was",
            missing.len(),
            missing[0]
        );
    }
    let key_place = match &config.secret_key {
        Some(_) => "secret_key in the config file".to_string(),
        None => config
            .data_dir
            .join(crate::data_dir::KEY_FILE)
            .display()
            .to_string(),
    };
    println!(
        "not included: the config file{} (it holds the app secret) and the access-token key \
         ({key_place}); the copy holds no app secret and only sealed access tokens: back the \
         config and the key up separately",
        config
            .file
            .as_ref()
            .map(|p| format!(" {}", p.display()))
            .unwrap_or_default()
    );
    println!(
        "restore: stop the server, put helpstack.db and attachments/ into the data directory \
         next to the same config and key, start it"
    );
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Copies every file under `from` into `to`, skipping the temp area and files already
/// there with the same size (content-addressed: same name, same bytes). Returns
/// (copied, already present, bytes copied).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<(u64, u64, u64)> {
    let mut totals = (0, 0, 0);
    if !from.exists() {
        return Ok(totals);
    }
    let mut stack = vec![from.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(from)?;
            if rel.starts_with("tmp") {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let target = to.join(rel);
            let len = entry.metadata()?.len();
            if std::fs::metadata(&target).is_ok_and(|m| m.len() == len) {
                totals.1 += 1;
                continue;
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = target.with_extension("partial");
            std::fs::copy(&path, &tmp)
                .map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", path.display()))?;
            std::fs::rename(&tmp, &target)?;
            totals.0 += 1;
            totals.2 += len;
        }
    }
    Ok(totals)
}
