//! Session tokens: short-lived JWTs (HS256 only) for signed-in users.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::store::Role;

/// Issuer and audience of every session token.
pub const ISSUER: &str = "pennon";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "pennon-admin";

/// The claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// The role when issued: a role change ends the user's sessions, so a session that is not ended has the
    /// current role.
    pub role: Role,
    /// The user's email, for display.
    pub email: String,
    /// The session id, which the server can end (`crate::auth::revoked`).
    pub sid: String,
}

/// A new session token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The signed token.
    pub token: String,
    /// Its session id.
    pub id: String,
    /// Its expiry (Unix seconds).
    pub expires_at: i64,
}

/// Signs and checks session tokens with one HMAC secret.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// How long a session lasts, in seconds.
    pub ttl_secs: i64,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions signed with `secret`, accepted up to `leeway_secs` past their expiry (for clocks that differ
    /// between replicas).
    pub fn new(secret: &[u8], ttl_secs: i64, leeway_secs: u64) -> Self {
        // Only HS256 is accepted: no `none`, no algorithm confusion.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = leeway_secs;
        Sessions {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    /// A token for a user, with a new session id, valid from `now` (Unix seconds).
    pub fn issue(&self, user_id: i64, email: &str, role: Role, now: i64) -> Issued {
        let id = super::secrets::generate("");
        let claims = Claims {
            sub: user_id.to_string(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            role,
            email: email.to_owned(),
            sid: id.clone(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing cannot fail");
        Issued { token, id, expires_at: now + self.ttl_secs }
    }

    /// The claims of a valid token: signed by us, and within its time (give or take the leeway, for clocks of
    /// replicas a little apart).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::now_millis;

    #[test]
    fn a_session_ends_at_its_expiry_and_tolerates_a_clock_a_little_behind() {
        let sessions = Sessions::new(b"a test secret of enough length for HS256", 60, 2);
        let now = now_millis() / 1000;
        let ended = sessions.issue(1, "a@example.com", Role::Admin, now - 65);
        assert!(sessions.verify(&ended.token).is_none(), "expired 5 s ago, past the 2 s leeway");
        let early = sessions.issue(1, "a@example.com", Role::Admin, now + 1);
        assert_eq!(sessions.verify(&early.token).map(|c| c.sub), Some("1".to_owned()), "issued by a clock 1 s ahead");
        assert!(sessions.verify("not a token").is_none());
    }
}
