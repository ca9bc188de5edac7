//! `helpstack init`: writes a config file (mode 0600) and prepares the data directory,
//! database and admin login. Interactive in a terminal, scriptable with flags.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::UsageError;
use crate::config::{self, DEFAULT_DATA_DIR, DEFAULT_LISTEN};
use crate::secrets::{random_password, random_token};
use crate::store::{StoreError, admin};

/// Flags of `init`; any value left out is asked for (interactive) or defaulted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Never prompt; use flags and defaults (generated verify token and password)
    #[arg(long)]
    pub non_interactive: bool,
    /// Overwrite an existing config file
    #[arg(long)]
    pub force: bool,
    /// Directory for the database and attachments
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Meta App secret (App dashboard > App settings > Basic)
    #[arg(long, value_name = "SECRET")]
    pub app_secret: Option<String>,
    /// Webhook verify token (generated when omitted)
    #[arg(long, value_name = "TOKEN")]
    pub verify_token: Option<String>,
    /// Dashboard admin user name
    #[arg(long, value_name = "USER", default_value = "admin")]
    pub admin_user: String,
    /// Dashboard admin password (generated when omitted)
    #[arg(long, value_name = "PASSWORD")]
    pub admin_password: Option<String>,
    /// Public HTTPS base URL Meta calls, e.g. https://help.example.com
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Graph API base URL
    #[arg(long, value_name = "URL")]
    pub graph_api_url: Option<String>,
}

/// The values that end up in the file.
struct Answers {
    listen: String,
    data_dir: PathBuf,
    app_secret: Option<String>,
    verify_token: String,
    verify_generated: bool,
    public_url: Option<String>,
    graph_api_url: Option<String>,
    /// Seals the access tokens in the database; kept from an existing file or key file.
    secret_key: String,
}

/// Runs `init`.
pub fn run(path: &Path, mut args: Args) -> anyhow::Result<()> {
    // An empty value (`--admin-password "$UNSET"`) means "not given": generated or
    // defaulted as for a flag left out, never stored as an empty secret.
    for value in [
        &mut args.app_secret,
        &mut args.verify_token,
        &mut args.admin_password,
        &mut args.public_url,
        &mut args.graph_api_url,
        &mut args.listen,
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *value = None;
        }
    }
    if args
        .data_dir
        .as_ref()
        .is_some_and(|d| d.as_os_str().is_empty())
    {
        args.data_dir = None;
    }
    if args.admin_user.trim().is_empty() {
        return Err(UsageError("--admin-user must not be empty".into()).into());
    }
    if let Some(p) = &args.admin_password {
        crate::auth::check_new_login(&args.admin_user, p)
            .map_err(|reason| UsageError(format!("--admin-password: {reason}")))?;
    }
    // An existing file supplies the defaults. One holding no secret (the sample the
    // package ships) may be replaced; one with secrets needs --force.
    let existing = path
        .exists()
        .then(|| config::read_file(path).ok())
        .flatten();
    let holds_secrets = existing.as_ref().is_none_or(|f| {
        [
            &f.app_secret,
            &f.verify_token,
            &f.instagram_verify_token,
            &f.whatsapp_verify_token,
            &f.secret_key,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
    });
    if path.exists() && holds_secrets && !args.force {
        return Err(UsageError(format!(
            "{} already exists; use --force to overwrite it",
            path.display()
        ))
        .into());
    }
    let mut secret_key = None;
    if let Some(f) = existing {
        secret_key = f.secret_key.filter(|k| !k.is_empty());
        args.listen = args.listen.or(f.listen);
        args.data_dir = args.data_dir.or(f.data_dir);
        args.public_url = args.public_url.or(f.public_url);
        args.graph_api_url = args.graph_api_url.or(f.graph_api_url);
    }
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    if interactive {
        ask_all(&mut args)?;
    }
    let mut answers = resolve(&args)?;
    // Keep the key the database's tokens are sealed with: the old file's, else the
    // data directory's key file (moved into the config), else a new one.
    answers.secret_key = secret_key
        .or_else(|| {
            std::fs::read_to_string(answers.data_dir.join(crate::data_dir::KEY_FILE))
                .ok()
                .map(|k| k.trim().to_string())
        })
        .unwrap_or_else(crate::seal::generate_key);
    write_config(path, &answers)?;
    let service = crate::ownership::is_root()
        .then(|| crate::ownership::lookup_user(crate::ownership::SERVICE_USER))
        .flatten();
    match service {
        // Packaged install: the service reads the config through its group, and owns
        // its data directory; the file stays unwritable for it.
        Some((uid, gid, _)) => {
            std::os::unix::fs::chown(path, Some(0), Some(gid))?;
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o640))?;
            std::fs::create_dir_all(&answers.data_dir)?;
            std::os::unix::fs::chown(&answers.data_dir, Some(uid), Some(gid))?;
            std::fs::set_permissions(
                &answers.data_dir,
                std::os::unix::fs::PermissionsExt::from_mode(0o750),
            )?;
            println!(
                "wrote {} (root:{} 0640)",
                path.display(),
                crate::ownership::SERVICE_USER
            );
        }
        None => println!("wrote {} (mode 0600)", path.display()),
    }

    // Check the file loads exactly as serve will load it, then prepare the database.
    let cfg = config::load(
        &config::ConfigSource::Explicit(path.to_path_buf()),
        &config::Overrides::default(),
        &|_| None,
    )?;
    let db = super::open_database(&cfg)?;
    println!("database ready: {}", db.path().display());
    setup_admin(&db, &args)?;
    if answers.verify_generated {
        println!(
            "webhook verify token (enter it in the Meta App dashboard): {}",
            answers.verify_token
        );
    }
    if answers.app_secret.is_none() {
        println!(
            "note: {}; {}",
            crate::config::NO_APP_SECRET,
            crate::config::app_secret_step(Some(path))
        );
    }
    print_next_steps(path, &answers);
    Ok(())
}

/// Says what to run next, each command naming this config file: without `--config`
/// a command run from another directory would open another (empty) database.
fn print_next_steps(path: &Path, answers: &Answers) {
    let config = path.display();
    let base = answers
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", answers.listen));
    println!("next steps:");
    println!(
        "  1. add each Page, Instagram account and WhatsApp number:\n     \
         helpstack --config {config} channel add facebook --page-id PAGE_ID --access-token TOKEN"
    );
    println!("  2. start the server:\n     helpstack --config {config} serve");
    println!(
        "  3. in the Meta App dashboard > Webhooks, set the callback URL to \
         {base}/api/webhooks/facebook (or instagram, whatsapp) and the verify token \
         (verify_token in {config})"
    );
    println!("  4. check everything:\n     helpstack --config {config} doctor");
}

fn setup_admin(db: &crate::store::Db, args: &Args) -> anyhow::Result<()> {
    let conn = db.conn()?;
    let exists = admin::find(&conn, &args.admin_user)?.is_some();
    match (&args.admin_password, exists) {
        (Some(p), true) => {
            admin::set_password(&conn, &args.admin_user, &crate::auth::hash_password(p))?;
            println!("updated the password of admin {:?}", args.admin_user);
        }
        (None, true) => println!("admin {:?} exists; password unchanged", args.admin_user),
        (password, false) => {
            let generated = password.is_none();
            let password = password.clone().unwrap_or_else(random_password);
            admin::create(
                &conn,
                &args.admin_user,
                &crate::auth::hash_password(&password),
            )
            .map_err(|e| match e {
                StoreError::Conflict(m) => anyhow::Error::new(UsageError(m)),
                other => other.into(),
            })?;
            if generated {
                println!(
                    "dashboard login (shown only this once): user {:?} password {password}",
                    args.admin_user
                );
            } else {
                println!("created admin {:?}", args.admin_user);
            }
        }
    }
    Ok(())
}

fn resolve(args: &Args) -> anyhow::Result<Answers> {
    let listen = args.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(UsageError(format!("--listen {listen:?} is not an IP:port address")).into());
    }
    // On a packaged install (root, with the service account present) the data lives in
    // the service account's home, /var/lib/helpstack.
    let data_dir = args
        .data_dir
        .clone()
        .or_else(packaged_home)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    // Written absolute, so the file means the same from any working directory.
    let data_dir = if data_dir.is_absolute() {
        data_dir
    } else {
        // Join without the `./` of the default, so the file reads /srv/x/helpstack-data.
        let relative: PathBuf = data_dir
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        std::env::current_dir()?.join(relative)
    };
    let (verify_token, verify_generated) = match args.verify_token.clone().filter(|t| !t.is_empty())
    {
        Some(t) => (t, false),
        None => (random_token(16), true),
    };
    Ok(Answers {
        listen,
        data_dir,
        app_secret: args.app_secret.clone().filter(|s| !s.is_empty()),
        verify_token,
        verify_generated,
        public_url: args.public_url.clone(),
        graph_api_url: args.graph_api_url.clone(),
        secret_key: String::new(),
    })
}

/// The service account's home on a packaged install run as root (/var/lib/helpstack).
fn packaged_home() -> Option<PathBuf> {
    crate::ownership::is_root()
        .then(|| crate::ownership::lookup_user(crate::ownership::SERVICE_USER))
        .flatten()
        .map(|(_, _, home)| PathBuf::from(home))
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn render(a: &Answers) -> String {
    const HEADER: &str = "\
# HelpStack configuration, written by `helpstack init`.
#
# Precedence: command-line flag > environment > this file > built-in default. Each key
# names its environment variable(s), the first one set wins. This file holds the app
# secret and the token key: keep it private (mode 0600, or root:helpstack 0640).
";
    let answered = |key: &str| -> Option<String> {
        match key {
            "listen" => Some(quoted(&a.listen)),
            "data_dir" => Some(quoted(&a.data_dir.to_string_lossy())),
            "app_secret" => a.app_secret.as_deref().map(quoted),
            "secret_key" => Some(quoted(&a.secret_key)),
            "verify_token" => Some(quoted(&a.verify_token)),
            "public_url" => a.public_url.as_deref().map(quoted),
            "graph_api_url" => a.graph_api_url.as_deref().map(quoted),
            _ => None,
        }
    };
    config::sample::annotated(HEADER, &|s| answered(s.key))
}

fn write_config(path: &Path, answers: &Answers) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Created 0600 from the start: the file holds the app secret.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(render(answers).as_bytes())?;
    file.sync_all()?;
    // --force on an existing file keeps its old mode; make sure it is 0600.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}

fn prompt(question: &str, default: Option<&str>) -> anyhow::Result<Option<String>> {
    match default {
        Some(d) => print!("{question} [{d}]: "),
        None => print!("{question}: "),
    }
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim();
    Ok(if line.is_empty() {
        default.map(str::to_string)
    } else {
        Some(line.to_string())
    })
}

fn ask_all(args: &mut Args) -> anyhow::Result<()> {
    println!("Setting up HelpStack. Press Enter to accept the value in brackets.");
    if args.listen.is_none() {
        args.listen = prompt("Listen address", Some(DEFAULT_LISTEN))?;
    }
    if args.data_dir.is_none() {
        let default = packaged_home()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
        args.data_dir = prompt("Data directory", Some(&default))?.map(PathBuf::from);
    }
    if args.public_url.is_none() {
        args.public_url = prompt("Public HTTPS URL Meta will call (optional)", None)?;
    }
    if args.app_secret.is_none() {
        let s = rpassword::prompt_password("Meta App secret (input hidden; Enter to set later): ")?;
        args.app_secret = Some(s.trim().to_string()).filter(|s| !s.is_empty());
    }
    if args.verify_token.is_none() {
        args.verify_token = prompt("Webhook verify token (Enter to generate one)", None)?;
    }
    if args.admin_password.is_none() {
        let p = rpassword::prompt_password(format!(
            "Password for admin {:?} (input hidden; Enter to generate one): ",
            args.admin_user
        ))?;
        args.admin_password = Some(p).filter(|p| !p.is_empty());
    }
    Ok(())
}
