//! Random secrets and their stored form: 256 random bits shown once, kept only as a SHA-256 hash.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "pnn_api_";
/// Prefix of server SDK keys.
pub const SERVER_KEY_PREFIX: &str = "pnn_srv_";
/// Prefix of client SDK keys.
pub const CLIENT_KEY_PREFIX: &str = "pnn_cli_";
/// Prefix of relay credentials (one secret naming several environments, for `pennon relay`).
pub const RELAY_KEY_PREFIX: &str = "pnn_rly_";

/// Prefix of the secrets in trigger URLs.
pub const TRIGGER_PREFIX: &str = "pnn_trg_";

/// A new secret: `prefix` followed by 256 random bits in lower-case hex.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut secret = String::with_capacity(prefix.len() + 64);
    secret.push_str(prefix);
    secret.push_str(&hex::encode(bytes));
    secret
}

/// A secret just made, with what is stored of it: the one value shown once and the two kept.
#[derive(Debug)]
pub struct NewSecret {
    /// The secret itself, shown once.
    pub secret: String,
    /// Its stored form ([`hash`]).
    pub hash: String,
    /// The part that may be shown again ([`display_prefix`]).
    pub prefix: String,
}

impl NewSecret {
    /// A new secret of the kind `prefix` names.
    pub fn generate(prefix: &str) -> Self {
        let secret = generate(prefix);
        NewSecret { hash: hash(&secret), prefix: display_prefix(&secret), secret }
    }
}

/// Whether a credential looks like an SDK key (server or client).
pub fn is_sdk_key(credential: &str) -> bool {
    credential.starts_with(SERVER_KEY_PREFIX) || credential.starts_with(CLIENT_KEY_PREFIX)
}

/// The stored form of a secret: SHA-256 in lower-case hex.
pub fn hash(secret: &str) -> String {
    hex::encode(digest(secret))
}

/// The SHA-256 digest of a secret: [`hash`] before it is written in hex.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The digest a [`hash`] stands for, if it is one.
pub fn digest_of_hash(hash: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hash, &mut digest).ok()?;
    Some(digest)
}

/// The part of a secret that may be shown again (its type prefix and 4 characters).
pub fn display_prefix(secret: &str) -> String {
    secret.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let a = generate(API_TOKEN_PREFIX);
        let b = generate(API_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.len(), API_TOKEN_PREFIX.len() + 64);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(display_prefix(&a).len(), 12);
        assert_eq!(digest_of_hash(&hash(&a)), Some(digest(&a)));
        assert_eq!(digest_of_hash("not hex"), None);
        let new = NewSecret::generate(RELAY_KEY_PREFIX);
        assert!(new.secret.starts_with(RELAY_KEY_PREFIX));
        assert_eq!((new.hash, new.prefix), (hash(&new.secret), display_prefix(&new.secret)));
    }
}
