//! The write transaction: version checks happen inside it, revisions and the change log are bumped through
//! it, and it commits only together with an audit row.

use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::snapshot::ObjectKind;
use super::webhooks::HookMatcher;
use super::{Backend, Store, StoreResult, now_millis};

/// The channel a committed write notifies on (PostgreSQL), with `<environment>:<revision>`; replicas listen
/// on it (`crate::delivery::replication`).
pub const CHANNEL: &str = "pennon_changes";

/// The channel a change to an environment itself (created, renamed, new allowed origins, deleted) notifies on.
pub const ENVIRONMENTS_CHANNEL: &str = "pennon_environments";

/// The channel a change to a guard (created, changed, deleted) notifies on, with the environment: replicas
/// reload the metrics guards watch.
pub const GUARDS_CHANNEL: &str = "pennon_guards";

/// The channel a change to credentials (a session ended, an API token or a trigger URL created or revoked)
/// notifies on: replicas reload the ended sessions, API tokens and trigger URLs they keep in memory.
pub const CREDENTIALS_CHANNEL: &str = "pennon_credentials";

/// Who makes a change: recorded in the audit log and the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    /// A signed-in user.
    pub fn user(email: &str) -> Self {
        Actor(format!("user:{email}"))
    }
    /// An API token, by its name.
    pub fn token(name: &str) -> Self {
        Actor(format!("token:{name}"))
    }
    /// A trigger URL, by its name (or id).
    pub fn trigger(name: &str) -> Self {
        Actor(format!("trigger:{name}"))
    }
    /// The server itself (rollout scheduler, guards, startup).
    pub fn system(what: &str) -> Self {
        Actor(format!("system:{what}"))
    }
    /// A scheduled change, applied by the server on behalf of its author: `schedule:<id> by <author>`.
    pub fn schedule(id: i64, author: &str) -> Self {
        Actor(format!("schedule:{id} by {author}"))
    }
    /// A caller not yet identified (before authentication is configured).
    pub fn anonymous() -> Self {
        Actor("anonymous".to_owned())
    }
    /// As stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One audit row: who did what to which object, with the object before and after.
#[derive(Debug, Clone)]
pub struct Audit {
    /// Who.
    pub actor: Actor,
    /// What, e.g. `flag.create`, `config.toggle`.
    pub action: String,
    /// The kind of object: `environment`, `flag`, `config`, `segment`.
    pub resource: &'static str,
    /// The object's key (`flag/environment` for configs).
    pub resource_key: String,
    /// The flag concerned, if any.
    pub flag: Option<String>,
    /// The environment concerned, if any.
    pub environment: Option<String>,
    /// The object's version after the change.
    pub version: Option<u64>,
    /// The object before.
    pub before: Option<Value>,
    /// The object after.
    pub after: Option<Value>,
    /// Anything else worth keeping (evidence, reason).
    pub detail: Option<Value>,
}

impl Audit {
    /// An audit row with the required parts; the rest is filled in with the builder methods.
    pub fn new(actor: &Actor, action: impl Into<String>, resource: &'static str, key: impl Into<String>) -> Self {
        Audit {
            actor: actor.clone(),
            action: action.into(),
            resource,
            resource_key: key.into(),
            flag: None,
            environment: None,
            version: None,
            before: None,
            after: None,
            detail: None,
        }
    }

    /// Sets the flag and environment concerned.
    #[must_use]
    pub fn on(mut self, flag: Option<&str>, environment: Option<&str>) -> Self {
        self.flag = flag.map(str::to_owned);
        self.environment = environment.map(str::to_owned);
        self
    }

    /// Sets the object before and after the change, and its new version.
    #[must_use]
    pub fn change<T: Serialize>(mut self, before: Option<&T>, after: Option<&T>, version: Option<u64>) -> Self {
        self.before = before.map(|b| serde_json::to_value(b).expect("serialisable"));
        self.after = after.map(|a| serde_json::to_value(a).expect("serialisable"));
        self.version = version;
        self
    }

    /// Adds detail.
    #[must_use]
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// An open write transaction.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _sqlite_writer: Option<OwnedMutexGuard<()>>,
    at: i64,
    revisions: Vec<(String, u64)>,
    /// Environments whose own settings (name, allowed origins, existence) changed.
    environments: Vec<String>,
    /// Environments where a guard was created, changed or deleted.
    guards: Vec<String>,
    /// Whether sessions or API tokens changed.
    credentials: bool,
    /// PostgreSQL: tell the other replicas about the new revisions and changed environments on commit.
    notify: bool,
    /// The enabled webhooks, read by the first audit row: each audit row queues a delivery for every hook
    /// it passes.
    hooks: Option<HookMatcher>,
}

impl Store {
    /// Opens a write transaction (on SQLite, after waiting for the single writer slot).
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTx> {
        let (guard, tx) = self.begin_plain_write().await?;
        let notify = self.backend == Backend::Postgres;
        Ok(WriteTx {
            tx,
            _sqlite_writer: guard,
            at: now_millis(),
            revisions: Vec::new(),
            environments: Vec::new(),
            guards: Vec::new(),
            credentials: false,
            notify,
            hooks: None,
        })
    }
}

impl Store {
    /// A bare write transaction, for what records observations rather than changes (guard checks, metric
    /// buckets: no revision, no audit row): on SQLite it still waits for the single writer slot, which the
    /// returned guard holds until it is dropped.
    pub(crate) async fn begin_plain_write(
        &self,
    ) -> StoreResult<(Option<OwnedMutexGuard<()>>, Transaction<'static, Any>)> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let guard = self.write_lock.clone().lock_owned().await;
                (Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        })
    }
}

impl WriteTx {
    /// The connection, for the store's queries.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// The transaction's timestamp (Unix milliseconds).
    pub(crate) fn at(&self) -> i64 {
        self.at
    }

    /// Records that an object changed in an environment: bumps the environment's revision (once per
    /// transaction) and appends a change-log row. `payload` is the object as SDKs receive it, `None` for a
    /// deletion. Returns the revision.
    pub(crate) async fn changed(
        &mut self,
        environment: &str,
        kind: ObjectKind,
        key: &str,
        payload: Option<String>,
    ) -> StoreResult<u64> {
        let revision = if let Some((_, r)) = self.revisions.iter().find(|(e, _)| e == environment) {
            *r
        } else {
            let r: i64 =
                sqlx::query_scalar("UPDATE environments SET revision = revision + 1 WHERE key = $1 RETURNING revision")
                    .bind(environment)
                    .fetch_one(&mut *self.tx)
                    .await?;
            self.revisions.push((environment.to_owned(), r as u64));
            r as u64
        };
        let op = if payload.is_some() { "put" } else { "delete" };
        sqlx::query(
            "INSERT INTO change_log (environment, revision, kind, key, op, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (environment, revision, kind, key) DO UPDATE SET op = excluded.op, payload = excluded.payload",
        )
        .bind(environment)
        .bind(revision as i64)
        .bind(kind.as_str())
        .bind(key)
        .bind(op)
        .bind(payload)
        .bind(self.at)
        .execute(&mut *self.tx)
        .await?;
        Ok(revision)
    }

    /// Records that an environment itself was created, changed or deleted, so that other replicas reload
    /// their list of environments (and the allowed origins) when this commits.
    pub(crate) fn environment_changed(&mut self, environment: &str) {
        if !self.environments.iter().any(|e| e == environment) {
            self.environments.push(environment.to_owned());
        }
    }

    /// Records that a guard of an environment was created, changed or deleted, so that other replicas reload
    /// the metrics guards watch when this commits.
    pub(crate) fn guards_changed(&mut self, environment: &str) {
        if !self.guards.iter().any(|e| e == environment) {
            self.guards.push(environment.to_owned());
        }
    }

    /// Records that sessions ended or API tokens or trigger URLs changed, so that other replicas reload the
    /// credentials they hold in memory when this commits.
    pub(crate) fn credentials_changed(&mut self) {
        self.credentials = true;
    }

    /// Appends the audit row and commits. Returns the new revision of every environment touched.
    pub async fn commit(mut self, audit: Audit) -> StoreResult<Vec<(String, u64)>> {
        self.audit(&audit).await?;
        if self.notify {
            // Delivered to the listening replicas only if the transaction commits.
            for (environment, revision) in &self.revisions {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(format!("{environment}:{revision}"))
                    .execute(&mut *self.tx)
                    .await?;
            }
            for environment in &self.environments {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(ENVIRONMENTS_CHANNEL)
                    .bind(environment)
                    .execute(&mut *self.tx)
                    .await?;
            }
            for environment in &self.guards {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(GUARDS_CHANNEL)
                    .bind(environment)
                    .execute(&mut *self.tx)
                    .await?;
            }
            if self.credentials {
                sqlx::query("SELECT pg_notify($1, '')").bind(CREDENTIALS_CHANNEL).execute(&mut *self.tx).await?;
            }
        }
        self.tx.commit().await?;
        Ok(self.revisions)
    }

    /// Appends an audit row without committing (for changes that need more than one), and queues its
    /// delivery to every webhook it passes.
    pub(crate) async fn audit(&mut self, a: &Audit) -> StoreResult<()> {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at, actor, action, resource, resource_key, flag, environment, version, before, after, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(self.at)
        .bind(a.actor.as_str())
        .bind(&a.action)
        .bind(a.resource)
        .bind(&a.resource_key)
        .bind(a.flag.as_deref())
        .bind(a.environment.as_deref())
        .bind(a.version.map(|v| v as i64))
        .bind(json(&a.before))
        .bind(json(&a.after))
        .bind(json(&a.detail))
        .fetch_one(&mut *self.tx)
        .await?;
        let hooks = match self.hooks.take() {
            Some(hooks) => hooks,
            None => HookMatcher::load(self).await?,
        };
        let queued = hooks.enqueue(self, id, a).await;
        self.hooks = Some(hooks);
        queued
    }
}
