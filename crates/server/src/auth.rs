//! Who is calling: the authentication seam.
//!
//! Handlers state what they need by taking one of these extractors: [`Viewer`] to read, [`Editor`] to change
//! flags, configs and segments, [`Admin`] for environments (and later users and keys). A handler without one
//! does not get a [`Caller`], so it cannot write (every store write needs the caller's actor).
//! Until credentials exist every caller is anonymous with every role.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::store::Actor;

/// An identified caller of the admin API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Recorded in the audit log.
    pub actor: Actor,
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
                Ok($name(Caller { actor: Actor::anonymous() }))
            }
        }

        impl $name {
            /// The caller's actor, for the audit log.
            pub fn actor(&self) -> &Actor {
                &self.0.actor
            }
        }
    };
}

role_extractor!(
    /// May read everything in the admin API.
    Viewer
);
role_extractor!(
    /// May change flags, configs and segments.
    Editor
);
role_extractor!(
    /// May change environments, users, keys and tokens.
    Admin
);
