//! `/flags`: flag definitions (shared by every environment), their lifecycle and listing.
//!
//! One file per action: [`create`], [`list`], [`get`], [`update`], and [`archive`] (archive, unarchive,
//! delete).

mod archive;
pub(crate) mod create;
mod get;
mod list;
pub(crate) mod update;
mod usage;

use pennon_engine::{Flag, FlagKind, Variant};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use crate::api::common::check_text;
use crate::app::state::AppState;
use crate::http::error::ApiError;
use crate::store::FlagRecord;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_flags, create::create_flag))
        .routes(routes!(get::get_flag, update::update_flag, archive::delete_flag))
        .routes(routes!(archive::archive_flag))
        .routes(routes!(archive::unarchive_flag))
}

/// A flag definition as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagBody {
    /// Slug key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Tags for filtering.
    pub tags: Vec<String>,
    /// The type of value served.
    pub kind: FlagKind,
    /// The values the flag can serve.
    pub variants: Vec<Variant>,
    /// Mixed into every bucket; random at creation, never changed.
    pub salt: String,
    /// Archived flags leave every environment's snapshot and cannot be changed until unarchived.
    pub archived: bool,
    /// Version of the definition, for `If-Match`.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<FlagRecord> for FlagBody {
    fn from(r: FlagRecord) -> Self {
        let Flag { key, name, description, tags, kind, variants, salt, archived } = r.flag;
        FlagBody {
            key,
            name,
            description,
            tags,
            kind,
            variants,
            salt,
            archived,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    crate::api::common::check_name("name", name)
}

pub(crate) fn check_description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > 2000 {
        return Err(ApiError::bad_field("description", "description must be at most 2000 characters"));
    }
    check_text("description", description, true)
}

/// Tags are plain text, each named by its position.
pub(crate) fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    tags.iter().enumerate().try_for_each(|(i, tag)| check_text(&format!("tags[{i}]"), tag, false))
}

/// Tags without repeats, in the order first given.
pub(crate) fn dedup_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}
