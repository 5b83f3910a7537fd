//! Change requests: in an environment that requires approvals, a config change kept with the config it was
//! based on until enough others approve it (`approvals.rs` approves, rejects, cancels and rebases them).

use std::collections::HashMap;

use pennon_engine::FlagConfig;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::configs::{ConfigRecord, prepare_edit, write_edit};
use super::write::{Actor, Audit};
use super::{Store, StoreError, StoreResult, from_json, to_json};

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for approvals; the config is still at the version it was based on.
    Pending,
    /// Waiting, but the config changed since: it must be rebased before it can be approved.
    Stale,
    /// Approved and applied.
    Applied,
    /// Rejected: never applied.
    Rejected,
    /// Withdrawn by its author or an admin.
    Cancelled,
}

impl RequestState {
    /// As the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Stale => "stale",
            RequestState::Applied => "applied",
            RequestState::Rejected => "rejected",
            RequestState::Cancelled => "cancelled",
        }
    }

    /// The state named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Stale, Self::Applied, Self::Rejected, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether it still waits (pending or stale).
    pub fn is_open(self) -> bool {
        matches!(self, RequestState::Pending | RequestState::Stale)
    }
}

/// One approval of a change request.
#[derive(Debug, Clone)]
pub struct ApprovalRecord {
    /// Who approved.
    pub actor: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// A change request.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    /// Its id.
    pub id: i64,
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// Where it stands.
    pub state: RequestState,
    /// The edit, as the audit log names it (`config.toggle`, ...).
    pub action: String,
    /// Who asked for it.
    pub author: String,
    /// The author's comment.
    pub comment: Option<String>,
    /// The config it is based on.
    pub base: FlagConfig,
    /// The config it would make.
    pub proposed: FlagConfig,
    /// The config's version now.
    pub current_version: u64,
    /// Its approvals, oldest first.
    pub approvals: Vec<ApprovalRecord>,
    /// The approvals the environment requires now.
    pub approvals_required: u32,
    /// Who applied, rejected or cancelled it.
    pub decided_by: Option<String>,
    /// The reason given with a rejection.
    pub decision: Option<String>,
    /// The config version it made, once applied.
    pub applied_version: Option<u64>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// How a config change is to be made.
#[derive(Debug, Clone)]
pub enum ChangeMode {
    /// As a change request when the environment requires approvals, at once when it does not.
    Request {
        /// The author's comment.
        comment: Option<String>,
        /// The most requests that may wait per flag and environment.
        max_pending: u32,
    },
    /// At once, whatever the environment requires; the reason goes into the audit row.
    Bypass {
        /// Why.
        reason: String,
    },
}

/// What became of a config change.
#[derive(Debug)]
pub enum ChangeOutcome {
    /// It was applied: the new config and the environments' new revisions.
    Applied(Box<ConfigRecord>, Vec<(String, u64)>),
    /// It waits for approvals.
    Proposed(Box<ChangeRequest>),
}

/// Which change requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Of this environment only.
    pub environment: Option<String>,
    /// Of this flag only.
    pub flag: Option<String>,
    /// In this state only.
    pub state: Option<RequestState>,
    /// With an id below this one (the page after it).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

pub(super) const SELECT: &str = "SELECT r.id, r.flag, r.environment, r.state, r.action, r.author, r.comment, \
    r.base_config, r.proposed, r.decided_by, r.decision, r.applied_version, r.created_at, r.updated_at, \
    c.version AS current_version, e.approvals_required FROM change_requests r \
    JOIN flag_configs c ON c.flag = r.flag AND c.environment = r.environment \
    JOIN environments e ON e.key = r.environment";

fn from_row(row: &AnyRow) -> StoreResult<ChangeRequest> {
    let base: FlagConfig = from_json(&row.try_get::<String, _>("base_config")?)?;
    let current_version = row.try_get::<i64, _>("current_version")? as u64;
    let stored: String = row.try_get("state")?;
    let state = match RequestState::parse(&stored) {
        Some(RequestState::Pending) if current_version != base.version => RequestState::Stale,
        Some(s) => s,
        None => return Err(StoreError::Internal(sqlx::Error::Protocol(format!("unknown state {stored}")))),
    };
    Ok(ChangeRequest {
        id: row.try_get("id")?,
        flag: row.try_get("flag")?,
        environment: row.try_get("environment")?,
        state,
        action: row.try_get("action")?,
        author: row.try_get("author")?,
        comment: row.try_get("comment")?,
        proposed: from_json(&row.try_get::<String, _>("proposed")?)?,
        base,
        current_version,
        approvals: Vec::new(),
        approvals_required: u32::try_from(row.try_get::<i64, _>("approvals_required")?).unwrap_or(u32::MAX),
        decided_by: row.try_get("decided_by")?,
        decision: row.try_get("decision")?,
        applied_version: row.try_get::<Option<i64>, _>("applied_version")?.map(|v| v as u64),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Fills in the approvals of `requests` with one query.
async fn with_approvals(conn: &mut AnyConnection, mut requests: Vec<ChangeRequest>) -> StoreResult<Vec<ChangeRequest>> {
    if requests.is_empty() {
        return Ok(requests);
    }
    let marks: Vec<String> = (1..=requests.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT request, actor, at FROM change_request_approvals WHERE request IN ({}) ORDER BY at, actor",
        marks.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in &requests {
        query = query.bind(r.id);
    }
    let mut by_request: HashMap<i64, Vec<ApprovalRecord>> = HashMap::new();
    for row in query.fetch_all(&mut *conn).await? {
        let approval = ApprovalRecord { actor: row.try_get("actor")?, at: row.try_get("at")? };
        by_request.entry(row.try_get("request")?).or_default().push(approval);
    }
    for r in &mut requests {
        r.approvals = by_request.remove(&r.id).unwrap_or_default();
    }
    Ok(requests)
}

/// One change request with its approvals.
pub(super) async fn fetch_request(conn: &mut AnyConnection, id: i64) -> StoreResult<ChangeRequest> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("change request {id}")))?;
    let request = from_row(&row)?;
    Ok(with_approvals(conn, vec![request]).await?.remove(0))
}

impl Store {
    /// Makes a config change, or asks for it: in an environment that requires approvals, a
    /// [`ChangeMode::Request`] is validated as the change would be and kept as a change request, and the
    /// config stays as it is; otherwise (or with [`ChangeMode::Bypass`]) it is applied as
    /// [`Store::update_config`] applies it. One transaction either way, with its audit row.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip(self, actor, mode, edit), fields(flag, environment))]
    pub async fn change_config(
        &self,
        flag: &str,
        environment: &str,
        expected: Option<u64>,
        action: &str,
        actor: &Actor,
        mode: ChangeMode,
        edit: impl FnOnce(&pennon_engine::Flag, &FlagConfig) -> Result<FlagConfig, StoreError>,
    ) -> StoreResult<ChangeOutcome> {
        let mut tx = self.begin_write().await?;
        let prepared = prepare_edit(&mut tx, flag, environment, expected, edit).await?;
        let required: i64 = sqlx::query_scalar("SELECT approvals_required FROM environments WHERE key = $1")
            .bind(environment)
            .fetch_one(tx.conn())
            .await?;
        let key = format!("{flag}/{environment}");
        match mode {
            ChangeMode::Request { comment, max_pending } if required > 0 => {
                let pending: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM change_requests WHERE flag = $1 AND environment = $2 AND state = 'pending'",
                )
                .bind(flag)
                .bind(environment)
                .fetch_one(tx.conn())
                .await?;
                if pending >= i64::from(max_pending) {
                    return Err(StoreError::Conflict(format!(
                        "{pending} change requests wait for this config already; approve, reject or cancel some first"
                    )));
                }
                let at = tx.at();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO change_requests (flag, environment, state, action, author, comment, base_version, \
                     base_config, proposed, created_at, updated_at) \
                     VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                )
                .bind(flag)
                .bind(environment)
                .bind(action)
                .bind(actor.as_str())
                .bind(comment.as_deref())
                .bind(prepared.current.version as i64)
                .bind(to_json(&prepared.current))
                .bind(to_json(&prepared.next))
                .bind(at)
                .fetch_one(tx.conn())
                .await?;
                let request = fetch_request(tx.conn(), id).await?;
                let audit = Audit::new(actor, "change_request.create", "change_request", id.to_string())
                    .on(Some(flag), Some(environment))
                    .change(Some(&prepared.current), Some(&prepared.next), None)
                    .detail(json!({ "change_request": id, "edit": action, "key": key, "comment": comment }));
                tx.commit(audit).await?;
                Ok(ChangeOutcome::Proposed(Box::new(request)))
            }
            mode => {
                let (before, record) = write_edit(&mut tx, prepared, action, actor).await?;
                let mut audit = Audit::new(actor, action, "config", key).on(Some(flag), Some(environment)).change(
                    Some(&before),
                    Some(&record.config),
                    Some(record.config.version),
                );
                if let ChangeMode::Bypass { reason } = mode
                    && required > 0
                {
                    audit = audit
                        .detail(json!({ "approval_bypass": { "reason": reason, "approvals_required": required } }));
                }
                let revisions = tx.commit(audit).await?;
                Ok(ChangeOutcome::Applied(Box::new(record), revisions))
            }
        }
    }

    /// One change request.
    pub async fn get_change_request(&self, id: i64) -> StoreResult<ChangeRequest> {
        let mut conn = self.pool.acquire().await?;
        fetch_request(&mut conn, id).await
    }

    /// A page of change requests, newest first.
    pub async fn list_change_requests(&self, filter: &RequestFilter) -> StoreResult<Vec<ChangeRequest>> {
        let mut conditions = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(environment) = &filter.environment {
            binds.push(environment.clone());
            conditions.push(format!("r.environment = ${}", binds.len()));
        }
        if let Some(flag) = &filter.flag {
            binds.push(flag.clone());
            conditions.push(format!("r.flag = ${}", binds.len()));
        }
        match filter.state {
            None => {}
            Some(RequestState::Pending) => conditions.push("r.state = 'pending' AND c.version = r.base_version".into()),
            Some(RequestState::Stale) => conditions.push("r.state = 'pending' AND c.version <> r.base_version".into()),
            Some(other) => conditions.push(format!("r.state = '{}'", other.as_str())),
        }
        conditions.push(format!("r.id < ${}", binds.len() + 1));
        let sql = format!("{SELECT} WHERE {} ORDER BY r.id DESC LIMIT ${}", conditions.join(" AND "), binds.len() + 2);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b);
        }
        let query = query.bind(filter.before.unwrap_or(i64::MAX)).bind(i64::from(filter.limit));
        let mut conn = self.pool.acquire().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        let requests = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        with_approvals(&mut conn, requests).await
    }
}
