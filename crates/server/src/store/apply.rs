//! Applying a declarative document: many changes in one transaction, one audit row per changed object, after
//! a check that nothing changed since the plan was made.

use pennon_engine::{Flag, FlagConfig, Problem};
use sha2::{Digest as _, Sha256};
use sqlx::AnyConnection;

use super::write::{Actor, Audit, WriteTx};
use super::{
    EnvironmentPatch, FlagPatch, GuardDraft, MetricDraft, NewEnvironment, Store, StoreError, StoreResult, from_json,
};
use crate::domain::plans::PlanDraft;

/// One change of an apply, in the order it runs.
#[derive(Debug, Clone)]
pub enum ApplyStep {
    /// A new environment.
    CreateEnvironment(NewEnvironment),
    /// An environment's name, production mark or allowed origins.
    UpdateEnvironment(String, EnvironmentPatch),
    /// A new segment.
    CreateSegment(pennon_engine::Segment),
    /// A segment's new content.
    UpdateSegment(pennon_engine::Segment),
    /// A segment no rule uses any more.
    DeleteSegment(String),
    /// A new flag (with its salt).
    CreateFlag(Flag),
    /// A flag definition's new name, description, tags or variants.
    UpdateFlag(String, FlagPatch),
    /// A live flag removed: archived and deleted together (one audit row, `flag.delete`).
    DeleteFlag(String),
    /// A flag's config in one environment (its flag and environment name it; the version is ignored).
    SetConfig(FlagConfig),
    /// A new metric.
    CreateMetric(String, MetricDraft),
    /// A metric's new kind, unit, direction or description.
    UpdateMetric(String, MetricDraft),
    /// A metric no guard uses any more.
    DeleteMetric(String),
    /// A flag's rollout plan in one environment (flag, environment), new or replacing one not in progress.
    PutPlan(String, String, PlanDraft),
    /// A rollout plan not in progress removed (flag, environment).
    DeletePlan(String, String),
    /// A new guard (flag, environment).
    CreateGuard(String, String, GuardDraft),
    /// A guard's new definition (flag, environment, id); its test starts over.
    UpdateGuard(String, String, i64, GuardDraft),
    /// A guard removed (flag, environment, id).
    DeleteGuard(String, String, i64),
}

/// Why an apply stopped: the step (by the label the caller gave it) and the store's error. Nothing was
/// written.
#[derive(Debug)]
pub struct ApplyFailure {
    /// The caller's label of the failing step, e.g. a document path; `None` for the revision check.
    pub at: Option<String>,
    /// What went wrong.
    pub error: StoreError,
}

/// Checks a flag definition against its configs (the variants they use still exist).
pub type DefinitionCheck = fn(&Flag, &[FlagConfig]) -> Vec<Problem>;

/// A fingerprint of everything an apply reads: every environment's revision and version, and the versions
/// of segments, flags, metrics, rollout plans and guards. Any committed change to them changes it.
async fn fingerprint(conn: &mut AnyConnection) -> StoreResult<String> {
    let environments: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT key, revision, version FROM environments ORDER BY key").fetch_all(&mut *conn).await?;
    let segments: (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(version) AS BIGINT) FROM segments").fetch_one(&mut *conn).await?;
    let flags: (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(version) AS BIGINT) FROM flags").fetch_one(&mut *conn).await?;
    let mut others = Vec::new();
    for table in ["metrics", "plans", "guards"] {
        let sql = format!("SELECT COUNT(*), CAST(SUM(version) AS BIGINT) FROM {table}");
        let row: (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
        others.push(row);
    }
    let mut hash = Sha256::new();
    for (key, revision, version) in environments {
        hash.update(format!("{key}:{revision}:{version};"));
    }
    hash.update(format!("s{}:{};f{}:{}", segments.0, segments.1.unwrap_or(0), flags.0, flags.1.unwrap_or(0)));
    // Only when there are any, so that a revision taken before these objects existed stays what it was.
    for (table, (count, versions)) in ["m", "p", "g"].iter().zip(others) {
        if count > 0 {
            hash.update(format!(";{table}{count}:{}", versions.unwrap_or(0)));
        }
    }
    Ok(hex::encode(&hash.finalize()[..8]))
}

impl Store {
    /// The current document revision (see `fingerprint`): what `expected` of [`Store::apply`] is compared to.
    pub async fn document_revision(&self) -> StoreResult<String> {
        let mut conn = self.pool.acquire().await?;
        fingerprint(&mut conn).await
    }

    /// Every flag config, by flag then environment.
    pub async fn all_configs(&self) -> StoreResult<Vec<FlagConfig>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT config FROM flag_configs ORDER BY flag, environment")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|c| from_json(c)).collect()
    }

    /// Runs `steps` in one transaction, each labelled for errors, after checking that the document revision
    /// is still `expected` (409 otherwise). Every step adds one audit row. Returns the new revision of every
    /// environment touched; nothing is written when any step fails.
    pub async fn apply(
        &self,
        expected: &str,
        steps: Vec<(String, ApplyStep)>,
        actor: &Actor,
        check: DefinitionCheck,
    ) -> Result<Vec<(String, u64)>, ApplyFailure> {
        let fail = |at: Option<String>| move |error: StoreError| ApplyFailure { at: at.clone(), error };
        let mut tx = self.begin_write().await.map_err(fail(None))?;
        // Locks every environment row (PostgreSQL): every change elsewhere bumps one, so none can commit
        // between this check and the commit.
        sqlx::query("UPDATE environments SET revision = revision")
            .execute(tx.conn())
            .await
            .map_err(|e| fail(None)(e.into()))?;
        let current = fingerprint(tx.conn()).await.map_err(fail(None))?;
        if current != expected {
            return Err(ApplyFailure {
                at: None,
                error: StoreError::Conflict(format!(
                    "the document revision is {current}, not {expected}: something changed since the plan was made"
                )),
            });
        }
        let mut audits = Vec::with_capacity(steps.len());
        for (label, step) in steps {
            let audit = run(self, &mut tx, step, actor, check).await.map_err(fail(Some(label)))?;
            audits.push(audit);
        }
        let Some(last) = audits.pop() else { return Ok(Vec::new()) };
        for audit in &audits {
            tx.audit(audit).await.map_err(fail(None))?;
        }
        tx.commit(last).await.map_err(fail(None))
    }
}

async fn run(
    store: &Store,
    tx: &mut WriteTx,
    step: ApplyStep,
    actor: &Actor,
    check: DefinitionCheck,
) -> StoreResult<Audit> {
    Ok(match step {
        ApplyStep::CreateEnvironment(new) => Store::create_environment_in(tx, &new, actor).await?.1,
        ApplyStep::UpdateEnvironment(key, patch) => Store::update_environment_in(tx, &key, patch, None, actor).await?.1,
        ApplyStep::CreateSegment(segment) => Store::create_segment_in(tx, &segment, actor).await?.1,
        ApplyStep::UpdateSegment(segment) => Store::update_segment_in(tx, &segment, None, actor).await?.1,
        ApplyStep::DeleteSegment(key) => Store::delete_segment_in(tx, &key, actor).await?.1,
        ApplyStep::CreateFlag(flag) => Store::create_flag_in(tx, &flag, actor).await?.1,
        ApplyStep::UpdateFlag(key, patch) => Store::update_flag_in(tx, &key, patch, None, actor, check).await?.1,
        ApplyStep::DeleteFlag(key) => {
            Store::set_archived_in(tx, &key, true, actor).await?;
            Store::delete_flag_in(tx, &key, actor).await?.1
        }
        ApplyStep::SetConfig(config) => {
            let (flag, environment) = (config.flag.clone(), config.environment.clone());
            let (before, record) =
                store.edit_config_in(tx, &flag, &environment, None, "config.apply", actor, |_, _| Ok(config)).await?;
            Audit::new(actor, "config.apply", "config", format!("{flag}/{environment}"))
                .on(Some(&flag), Some(&environment))
                .change(Some(&before), Some(&record.config), Some(record.config.version))
        }
        ApplyStep::CreateMetric(key, draft) => Store::create_metric_in(tx, &key, &draft, actor).await?.1,
        ApplyStep::UpdateMetric(key, draft) => Store::update_metric_in(tx, &key, None, &draft, actor).await?.1,
        ApplyStep::DeleteMetric(key) => Store::delete_metric_in(tx, &key, actor).await?,
        ApplyStep::PutPlan(flag, env, draft) => Store::put_plan_in(tx, &flag, &env, None, actor, &draft).await?.2,
        ApplyStep::DeletePlan(flag, env) => Store::delete_plan_in(tx, &flag, &env, None, actor).await?,
        ApplyStep::CreateGuard(flag, env, draft) => Store::create_guard_in(tx, &env, &flag, &draft, actor).await?.1,
        ApplyStep::UpdateGuard(flag, env, id, draft) => {
            Store::update_guard_in(tx, &env, &flag, id, None, &draft, actor).await?.1
        }
        ApplyStep::DeleteGuard(flag, env, id) => Store::delete_guard_in(tx, &env, &flag, id, actor).await?,
    })
}
