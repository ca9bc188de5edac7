//! The names of what lives in the data directory, so every layer that creates,
//! tightens, hands over or backs up a file means the same one.

/// The SQLite database.
pub const DATABASE: &str = "helpstack.db";
/// Content-addressed attachment bytes.
pub const ATTACHMENTS: &str = "attachments";
/// The token key used when no config sets `secret_key`.
pub const KEY_FILE: &str = "secret.key";
/// The key being replaced while `rotate secret-key` re-seals, so a crash midway loses
/// nothing: removed once every token is sealed with the new key.
pub const PREVIOUS_KEY_FILE: &str = "secret.key.previous";
/// The first start's generated login, when stdout is not a terminal.
pub const INITIAL_LOGIN_FILE: &str = "initial-admin-password";
/// Held by `serve` for its life: one server per data directory.
pub const SERVE_LOCK: &str = "serve.lock";
