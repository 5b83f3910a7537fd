//! `/users` (admin): list, create, change role, disable, reset password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::api::rules::{Email, Password};
use crate::app::state::AppState;
use crate::auth::{Admin, Principal, passwords};
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{Role, User};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users, create_user)).routes(routes!(update_user))
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    /// Id.
    pub id: i64,
    /// Login email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Disabled users cannot sign in; their sessions stop working.
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        UserBody {
            id: u.id,
            email: u.email,
            role: u.role,
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// Users list.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Every user, by email.
    pub items: Vec<UserBody>,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login email.
    #[schema(value_type = Email)]
    pub email: String,
    /// 10 to 1024 characters with at least 4 different ones, no control characters, not a common password,
    /// not containing the email's name (the part before @).
    #[schema(value_type = Password)]
    pub password: String,
    /// Role.
    pub role: Role,
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New role.
    pub role: Option<Role>,
    /// Disable or re-enable.
    pub disabled: Option<bool>,
    /// New password (the same rule as for a new user).
    #[schema(value_type = Option<Password>)]
    pub password: Option<String>,
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let plausible = email.chars().count() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if !plausible {
        return Err(ApiError::bad_field("email", "email must be an email address"));
    }
    crate::api::common::check_text("email", email, false)
}

/// 422 naming the field and stating the rule when `password` does not follow it.
fn check_password(password: &str, email: &str) -> Result<(), ApiError> {
    passwords::check(password, email).map_err(|rule| ApiError::invalid("password", rule))
}

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = ["admin"])),
    responses((status = 200, body = UserList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_users(_: Admin, State(state): State<AppState>) -> Result<Json<UserList>, ApiError> {
    Ok(Json(UserList { items: state.store.list_users().await?.into_iter().map(Into::into).collect() }))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser, security(("bearer" = ["admin"])),
    responses((status = 201, body = UserBody), (status = 400, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
async fn create_user(
    caller: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    check_email(&body.email)?;
    check_password(&body.password, &body.email)?;
    let hash = passwords::hash(body.password).await.map_err(ApiError::Internal)?;
    let user = state.store.create_user(&body.email, &hash, body.role, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(UserBody::from(user))))
}

/// Change a user's role, disable or re-enable them, or set a new password. The last enabled admin cannot
/// be demoted or disabled. A role change or disabling ends all of the user's sessions; a new password ends
/// all but the one that made the change.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = i64, Path, description = "User id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = UserBody), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
async fn update_user(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<UpdateUser>,
) -> Result<Json<UserBody>, ApiError> {
    if let Some(p) = &body.password {
        let current = state.store.get_user(id).await?;
        check_password(p, &current.email)?;
    }
    let hash = match body.password {
        Some(p) => Some(passwords::hash(p).await.map_err(ApiError::Internal)?),
        None => None,
    };
    let keep = caller
        .0
        .session
        .as_deref()
        .filter(|_| matches!(caller.0.principal, Principal::User { id: me, .. } if me == id));
    let user = state.store.update_user(id, body.role, body.disabled, hash.as_deref(), keep, caller.actor()).await?;
    if let Err(e) = state.auth.revoked.reload(&state.store).await {
        tracing::warn!(error = %e, "could not reload the ended sessions; the refresh loop will");
    }
    Ok(Json(user.into()))
}
