//! Who is calling, and what they may do.
//!
//! Beside [`crate::http`] and [`crate::api`], which use its extractors; it uses the store (users, tokens,
//! keys), the settings and the state, and answers with [`crate::http::error`]'s problem type.
//!
//! Handlers state what they need by taking one of these extractors: [`Viewer`] to read, [`Editor`] to change
//! flags, configs and segments, [`Admin`] for environments, users, keys and tokens; [`Authenticated`] for
//! any valid admin credential. A handler without one never gets a [`Caller`], and every store write needs
//! the caller's actor, so an unchecked write does not compile. Missing or invalid credentials answer 401;
//! a role too low answers 403 and is recorded in the audit log. A change carried by the session cookie alone
//! must look like the dashboard's own request ([`check_forgery`]), or it answers 403.

mod api_tokens;
mod credentials;
mod jwt;
mod limiter;
pub mod passwords;
mod revoked;
mod sdk_keys;
pub mod secrets;
mod service;
mod trigger_limits;
mod trigger_table;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub use credentials::{
    CSRF_HEADER, Caller, ENVIRONMENT_HEADER, Principal, SESSION_COOKIE, authenticate, bearer, check_forgery,
};
pub use jwt::{AUDIENCE, Claims, ISSUER, Issued, Sessions};
pub use limiter::LoginPolicy;
pub use sdk_keys::{KeyGrant, KeyTable, RelayRefusal, RelayedKey};
pub use service::AuthService;
pub use trigger_limits::TriggerLimiter;
pub use trigger_table::TriggerTable;

use crate::app::state::AppState;
use crate::http::error::ApiError;
use crate::store::{Actor, KeyKind, Role};

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                credentials::check_forgery(&parts.method, &parts.headers)?;
                let caller = credentials::authenticate(&parts.headers, state).await?;
                let action = format!("{} {}", parts.method, parts.uri.path());
                Ok($name(credentials::authorize(caller, $role, &action, state).await?))
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
    /// Any valid admin credential.
    Authenticated,
    Role::Viewer
);
role_extractor!(
    /// May read everything in the admin API.
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// May change flags, configs and segments.
    Editor,
    Role::Editor
);
role_extractor!(
    /// May change environments, users, keys and tokens.
    Admin,
    Role::Admin
);

/// A request made with a server SDK key: the full config of its environment, the stream, metrics. A relay
/// credential (`pnn_rly_...`) is taken too, for an environment it names, chosen by the
/// [`credentials::ENVIRONMENT_HEADER`] header or the `environment` query parameter.
#[derive(Debug, Clone)]
pub struct ServerKey(pub KeyGrant);

impl FromRequestParts<AppState> for ServerKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(grant) = credentials::relay_key(parts, state)? {
            return Ok(ServerKey(grant));
        }
        let grant = credentials::sdk_key(&parts.headers, state)?;
        if grant.kind != KeyKind::Server {
            return Err(ApiError::Forbidden("this needs a server SDK key".into()));
        }
        Ok(ServerKey(grant))
    }
}

/// A request made with any SDK key (server or client): evaluated values of its environment.
#[derive(Debug, Clone)]
pub struct AnySdkKey(pub KeyGrant);

impl FromRequestParts<AppState> for AnySdkKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AnySdkKey(credentials::sdk_key(&parts.headers, state)?))
    }
}
