//! Password hashing with argon2id, off the async runtime's threads.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password (PHC string format).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// The shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 10;

/// The longest accepted password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The rule every new password follows, as the API states it when one does not.
pub const RULE: &str = "a password must be 10 to 1024 characters with at least 4 different ones, without control \
    characters, not a common password, and not contain the name of the account's email (the part before @)";

/// Checks a new password for the account `email` against [`RULE`]; `Err` names what is wrong and states the rule.
pub fn check(password: &str, email: &str) -> Result<(), String> {
    let why = problem(password, email);
    why.map_or(Ok(()), |why| Err(format!("{why}: {RULE}")))
}

fn problem(password: &str, email: &str) -> Option<&'static str> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_BYTES {
        return Some("wrong length");
    }
    if password.chars().any(char::is_control) {
        return Some("control characters");
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 4 || password.trim().chars().count() < MIN_PASSWORD_LEN {
        return Some("too few different characters");
    }
    let lower = password.to_lowercase();
    if ::passwords::analyzer::is_common_password(&lower) || ::passwords::analyzer::is_common_password(password) {
        return Some("a common password");
    }
    let name = email.split('@').next().unwrap_or("").to_lowercase();
    if name.chars().count() >= 3 && lower.contains(&name) {
        return Some("contains the email's name");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        for weak in ["password12", "1234567890", "          ", "aaaaaaaaaaaa", "ada.lovelace!", "x\u{0}abcdefghijk"] {
            assert!(check(weak, "ada.lovelace@example.com").is_err(), "{weak:?}");
        }
        let err = check("password12", "a@b.c").unwrap_err();
        assert!(err.starts_with("a common password: a password must be"), "{err}");
        assert!(check("engine analytical 1843", "ada.lovelace@example.com").is_ok());
        assert!(check("correct horse battery staple", "admin@pennon.test").is_ok());
    }
}
