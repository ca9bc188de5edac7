//! First start of a data directory: a verify token if none is configured, and the
//! first admin login. Generated values are shown once, here, and never again.

use anyhow::Context;

use crate::config::Config;
use crate::data_dir::INITIAL_LOGIN_FILE;
use crate::store::{Db, admin, settings};

/// Fills in what a fresh install lacks: a verify token (if none is configured) and an
/// admin account, each announced as it is created.
pub fn setup(config: &Config, db: &Db) -> anyhow::Result<()> {
    let conn = db.conn()?;
    if config.verify_tokens.facebook.is_none() {
        let (token, created) =
            settings::get_or_create(&conn, settings::GENERATED_VERIFY_TOKEN, || {
                crate::secrets::random_token(16)
            })?;
        if created {
            announce(&format!(
                "Generated webhook verify token (enter it in the Meta App dashboard):\n    {token}"
            ));
        } else {
            tracing::info!(
                "using the verify token generated on first start (stored in the database)"
            );
        }
    }
    if admin::count(&conn)? == 0 {
        let password = crate::secrets::random_password();
        admin::create(&conn, "admin", &crate::auth::hash_password(&password))?;
        announce_login(config, &password)?;
    }
    Ok(())
}

/// Shows the generated admin login: on a terminal, printed; otherwise (systemd, whose
/// journal keeps stdout for anyone in the adm group) written to an owner-only file in
/// the data directory, and only its path is printed.
fn announce_login(config: &Config, password: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        announce(&format!(
            "Created dashboard login (shown only this once):\n    user:     admin\n    password: {password}"
        ));
        return Ok(());
    }
    let path = config.data_dir.join(INITIAL_LOGIN_FILE);
    let _ = std::fs::remove_file(&path);
    crate::private_files::create_new(
        &path,
        format!("user: admin\npassword: {password}\n").as_bytes(),
    )
    .with_context(|| format!("while writing {}", path.display()))?;
    announce(&format!(
        "Created dashboard login \"admin\"; its password is in {} (owner-only).\n    \
         Read it, log in, change it, then delete the file.",
        path.display()
    ));
    Ok(())
}

fn announce(text: &str) {
    let line = "=".repeat(72);
    println!("{line}\n{text}\n{line}");
}
