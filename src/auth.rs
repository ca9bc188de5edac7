//! Password hashing (argon2id) and session tokens. Pure functions: the store keeps the
//! hashes, the HTTP layer the cookies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "helpstack_session";
/// Sessions last a working week; agents should not log in every morning.
pub const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Shortest password accepted anywhere one is set (init, rotate, dashboard, first start).
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Checks a new admin login against the one policy every path that sets a password
/// uses: a non-empty user name, a password of at least [`MIN_PASSWORD_CHARS`]
/// characters that is not the user name. Returns the reason when refused.
pub fn check_new_login(username: &str, password: &str) -> Result<(), String> {
    if username.trim().is_empty() {
        return Err("the admin user name must not be empty".into());
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.trim().eq_ignore_ascii_case(username.trim()) {
        return Err("the password must not be the user name".into());
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt (PHC string format).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random number generator is unavailable");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

/// Checks a password against a stored PHC hash (constant time inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fresh session token for the cookie.
pub fn new_session_token() -> String {
    crate::secrets::random_token(32)
}

/// The form of a session token kept in the database.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Throttles password guessing per client address: a few free tries, then each failure
/// doubles the wait (capped), and a success clears it.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

const FREE_ATTEMPTS: u32 = 5;

impl LoginLimiter {
    /// Whether a login attempt from `ip` may be checked now.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let map = self.failures.lock().expect("limiter lock poisoned");
        match map.get(&ip) {
            Some((n, last)) if *n >= FREE_ATTEMPTS => {
                last.elapsed() >= Duration::from_secs(1 << (n - FREE_ATTEMPTS).min(8))
            }
            _ => true,
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, ip: IpAddr) {
        let mut map = self.failures.lock().expect("limiter lock poisoned");
        if map.len() > 10_000 {
            map.retain(|_, (_, last)| last.elapsed() < Duration::from_secs(600));
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        entry.0 += 1;
        entry.1 = Instant::now();
    }

    /// Clears the client after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .expect("limiter lock poisoned")
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_empty_and_username() {
        assert!(check_new_login("admin", "").is_err());
        assert!(check_new_login("admin", "short").is_err());
        assert!(check_new_login("administrator", "Administrator").is_err());
        assert!(check_new_login("", "long enough pass").is_err());
        assert!(check_new_login("admin", "long enough pass").is_ok());
        assert!(check_new_login("admin", &crate::secrets::random_password()).is_ok());
    }

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
