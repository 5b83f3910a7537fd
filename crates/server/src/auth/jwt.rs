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
    /// The role when issued (the current role is read from the user on every request).
    pub role: Role,
    /// The user's email, for display.
    pub email: String,
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
    /// Sessions signed with `secret`.
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        // Only HS256 is accepted: no `none`, no algorithm confusion.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Sessions {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    /// A token for a user, valid from `now` (Unix seconds).
    pub fn issue(&self, user_id: i64, email: &str, role: Role, now: i64) -> String {
        let claims = Claims {
            sub: user_id.to_string(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            role,
            email: email.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|d| d.claims)
    }
}
